"""vec2face: 50 tokens, MAGE masking (ratios in [0.5, 1], exactly 25
dropped, masked slots <- e, refilled with token 0), a deterministic eval
pass, finite gradients in v, the identity sampler and perturbation, the
ArcFace logits and TAR at FAR against brute force, and bad input."""

import math

import jax
import numpy as np
import pytest
from jax import numpy as jnp
from scipy import stats

from zoo.arch import vec2face as v2f
from zoo.vision import faces

CFG = v2f.Vec2FaceConfig(embed_dim=16, decoder_dim=16, encoder_layers=1,
                         decoder_layers=1)


def _generator(batch=3):
  model = v2f.Generator(CFG)
  v = jnp.asarray(np.random.default_rng(0).normal(
      size=(batch, CFG.feature_dim)), jnp.float32)
  params = jax.jit(model.init)(jax.random.key(0), v)["params"]
  return model, {"params": params}, v


def _intermediates(model, variables, v, key):
  _, state = jax.jit(lambda v, k: model.apply(
      variables, v, k, mutable=["intermediates"]))(v, key)
  return {k: np.asarray(x[0]) for k, x in state["intermediates"].items()}


def test_mask_ratios_are_the_truncated_normal_on_half_to_one():
  ratios = np.asarray(v2f.mask_ratios(jax.random.key(1), 20_000, CFG))
  assert ratios.min() >= 0.5 and ratios.max() <= 1.0
  a, b = (0.5 - 0.55) / 0.25, (1.0 - 0.55) / 0.25
  expected = stats.truncnorm(a, b, loc=0.55, scale=0.25)
  assert stats.kstest(ratios, expected.cdf).pvalue > 1e-3


def test_masks_drop_exactly_25_and_mask_ceil_49_r():
  masked, kept, ratios = jax.device_get(v2f.token_masks(
      jax.random.key(2), 64, CFG))
  assert CFG.num_dropped == 25 and kept.shape == (64, 24)
  for row in range(64):
    assert len(set(kept[row])) == 24
    assert masked[row].sum() == math.ceil(49 * ratios[row])
    dropped = np.setdiff1d(np.arange(49), kept[row])
    assert masked[row][dropped].all()  # dropped tokens are masked ones


def test_tokens_masking_and_refill():
  model, variables, v = _generator()
  train = _intermediates(model, variables, v, jax.random.key(3))
  evaluation = _intermediates(model, variables, v, None)
  masked, kept, _ = jax.device_get(v2f.token_masks(
      jax.random.split(jax.random.key(3))[0], 3, CFG))
  for state in (train, evaluation):
    assert state["tokens"].shape == (3, 50, 16)
    assert state["decoder_input"].shape == (3, 50, 16)
  assert evaluation["encoder_input"].shape == (3, 50, 16)
  assert train["encoder_input"].shape == (3, 25, 16)
  tokens, decoder = train["tokens"], train["decoder_input"]
  for row in range(3):
    e = tokens[row, 0]
    np.testing.assert_array_equal(tokens[row, 1:][masked[row]],
                                  np.broadcast_to(e, (masked[row].sum(), 16)))
    for token in tokens[row, 1:][~masked[row]]:
      assert not np.allclose(token, e)
    refill = decoder[row, 1:][masked[row]]
    np.testing.assert_array_equal(refill, np.broadcast_to(
        decoder[row, 0], refill.shape))
  # Unmasked at eval: no slot is a copy of e.
  assert not np.any(np.all(np.isclose(evaluation["tokens"][:, 1:],
                                      evaluation["tokens"][:, :1]), -1))


def test_eval_is_deterministic_and_training_is_random():
  model, variables, v = _generator()
  apply = jax.jit(lambda v, k=None: model.apply(variables, v, k))
  out = np.asarray(apply(v))
  assert out.shape == (3, 28, 28, 1) and 0 <= out.min() and out.max() <= 1
  np.testing.assert_array_equal(out, apply(v))
  a, b = apply(v, jax.random.key(1)), apply(v, jax.random.key(2))
  assert not np.allclose(a, b)


def test_gradient_in_v_is_finite_and_nonzero():
  model, variables, v = _generator()
  grad = jax.jit(jax.grad(lambda v: jnp.sum(model.apply(variables, v)**2)))(v)
  assert np.all(np.isfinite(grad)) and np.abs(grad).sum() > 0


def test_identities_are_separated_unit_vectors_and_perturbations_keep_cos():
  rng = np.random.default_rng(4)
  ids = v2f.sample_identities(rng, 50, 64, 0.3)
  np.testing.assert_allclose(np.linalg.norm(ids, axis=1), 1, rtol=1e-6)
  cos = ids @ ids.T
  assert cos[np.triu_indices(50, 1)].max() < 0.3
  samples = v2f.perturb(rng, ids, 40, v2f.noise_scale(64, 0.85))
  mean_cos = np.einsum("kd,knd->kn", ids, samples).mean()
  assert abs(mean_cos - 0.85) < 0.01
  with pytest.raises(ValueError, match="gave"):
    v2f.sample_identities(rng, 10, 2, 0.0, tries=200)


def test_arcface_logits_are_the_formula():
  rng = np.random.default_rng(5)
  cos = rng.uniform(-1, 1, (6, 5))
  labels = rng.integers(5, size=6)
  got = np.asarray(faces.arcface_logits(cos, labels, 30.0, 0.5))
  for i in range(6):
    for j in range(5):
      c = cos[i, j]
      if j != labels[i]:
        want = c
      elif np.arccos(c) + 0.5 <= np.pi:
        want = np.cos(np.arccos(c) + 0.5)
      else:
        want = c - np.sin(np.pi - 0.5) * 0.5
      np.testing.assert_allclose(got[i, j], 30 * want, rtol=1e-5, atol=1e-5)


def test_tar_at_far_is_the_best_rate_within_the_far():
  rng = np.random.default_rng(6)
  labels = np.repeat(np.arange(8), 5)
  x = rng.normal(size=(8, 4))[labels] + rng.normal(size=(40, 4))
  genuine, impostor = faces.pair_scores(x, labels)
  assert len(genuine) == 8 * 10 and len(impostor) == 780 - 80
  for far in (0.01, 0.1, 0.5):
    best = max(np.mean(genuine > t) for t in np.r_[impostor, -np.inf]
               if np.mean(impostor > t) <= far)
    assert faces.tar_at_far(x, labels, far) == best
  with pytest.raises(ValueError, match="far must be in"):
    faces.tar_at_far(x, labels, 0.0)


def test_bad_input_names_the_problem():
  with pytest.raises(ValueError, match="image size 30 must be the token "
                                       "grid 7 times the upsampler's"):
    v2f.Vec2FaceConfig(image_size=30)
  with pytest.raises(ValueError, match="mask_min <= mask_mean"):
    v2f.Vec2FaceConfig(mask_min=0.6)
  model, variables, _ = _generator()
  with pytest.raises(ValueError, match=r"must be \[B, 64\]"):
    model.apply(variables, jnp.zeros((2, 32)))
  with pytest.raises(ValueError, match="divisible by the stride 4"):
    jax.eval_shape(faces.FaceRecognizer(64, 10).init, jax.random.key(0),
                   jnp.zeros((1, 30, 30, 1)))
