"""In-context vectors: the operator, the PCA, the deltas, the schedule, bad
input."""

import dataclasses
import functools

import jax
import numpy as np
import pytest
from jax import numpy as jnp

from train.tasks import icv as task
from zoo.lm.decoder import DecoderConfig
from zoo.retrieval import arc_encoder, icv

V, L, T = 50, 8, 5
CFG = icv.IcvConfig(
    lm=DecoderConfig(vocab_size=V, embed_dim=16, num_layers=2, num_heads=2,
                     mlp_dim=32),
    encoder_layers=1, projector_hidden=24, context_len=L, continuation_len=T,
    alpha_steps=4)


def _data(seed, n=3):
  rng = np.random.default_rng(seed)
  return (jnp.asarray(rng.integers(4, V, (n, L)), jnp.int32),
          jnp.asarray(rng.integers(4, V, (n, T)), jnp.int32))


@functools.cache
def _model(cfg=CFG):
  model = icv.build(cfg)
  return model, model.init(jax.random.key(0), *_data(0))


def test_the_shift_keeps_norms_and_moves_toward_v():
  rng = np.random.default_rng(1)
  h = jnp.asarray(rng.normal(size=(3, 7, 16)) * 5, jnp.float32)
  v = jnp.asarray(rng.normal(size=(3, 16)), jnp.float32)
  assert icv.icv_shift(h, v, 0.0) is h  # lambda = 0: the identity
  for strength in (0.3, 4.0, -2.0):
    got = icv.icv_shift(h, v, strength)
    np.testing.assert_allclose(jnp.linalg.norm(got, axis=-1),
                               jnp.linalg.norm(h, axis=-1), rtol=1e-6)
    want = h + strength * v[:, None]
    want = want / jnp.linalg.norm(want, axis=-1, keepdims=True)
    np.testing.assert_allclose(
        got / jnp.linalg.norm(got, axis=-1, keepdims=True), want, rtol=1e-5,
        atol=1e-6)
  shared = icv.icv_shift(h, v[0], 1.0)  # one v for every row
  np.testing.assert_allclose(shared, icv.icv_shift(
      h, jnp.broadcast_to(v[0], v.shape), 1.0), rtol=1e-6)


def test_zero_strength_decoder_is_the_plain_decoder():
  model, variables = _model(dataclasses.replace(CFG, strength=0.0))
  context, continuation = _data(2)
  got = model.apply(variables, context, continuation, method="nll")
  none = model.apply(variables, context, continuation, "none", method="nll")
  np.testing.assert_array_equal(got, none)


def test_pca_equals_numpy_svd_up_to_sign():
  rng = np.random.default_rng(3)
  h_x = rng.normal(size=(12, 3, 5))
  h_y = h_x + rng.normal(size=(12, 1, 1)) * rng.normal(size=(1, 3, 5)) + (
      0.1 * rng.normal(size=(12, 3, 5)) + 0.5)
  got = icv.icv_from_demos(h_x, h_y)
  deltas = (h_y - h_x).reshape(12, -1)
  centred = deltas - deltas.mean(0)
  _, _, vt = np.linalg.svd(centred)
  np.testing.assert_allclose(abs(got.reshape(-1) @ vt[0]), 1.0, rtol=1e-5)
  assert got.reshape(-1) @ deltas.mean(0) >= 0
  assert got.shape == (3, 5)


def test_deltas_are_states_with_context_minus_without():
  model, variables = _model()
  context, continuation = _data(4)
  got = model.apply(variables, context, continuation,
                    method="context_deltas")

  def block_outputs(module, tokens):
    states = []
    module.lm(tokens, layer_shift=lambda i, x: states.append(x) or x)
    return states

  full = model.apply(variables, jnp.concatenate(
      [context, continuation[:, :-1]], 1), method=block_outputs)
  bos = jnp.ones((len(context), 1), jnp.int32)
  none = model.apply(variables, jnp.concatenate(
      [bos, continuation[:, :-1]], 1), method=block_outputs)
  want = np.stack([f[:, L - 1:].mean(1) - n.mean(1)
                   for f, n in zip(full, none)], 1)
  np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)


def test_loss_follows_the_alpha_schedule():
  model, variables = _model()
  context, continuation = _data(5)
  inputs = {"context": context, "continuation": continuation}
  state = {**arc_encoder.split_frozen(variables),
           icv.SCHEDULE: {"step": jnp.zeros((), jnp.int32)}}
  for step in range(6):
    value, (stats, updated) = task.loss(model, state, inputs, None)
    alpha = max(0.0, 1 - step / CFG.alpha_steps)
    assert float(stats["alpha"]) == pytest.approx(alpha)
    assert float(value) == pytest.approx(
        alpha * float(stats["l_cos"]) + (1 - alpha) * float(stats["l_gen"]),
        rel=1e-5)
    state = {**state, **updated}
  assert int(state[icv.SCHEDULE]["step"]) == 6
  assert float(stats["l_gen"]) == pytest.approx(float(model.apply(
      variables, context, continuation, method="nll").mean()), rel=1e-5)


def test_bad_input_is_named():
  h = jnp.ones((2, 3, 16))
  for bad in (float("nan"), float("inf")):
    with pytest.raises(ValueError, match="strength"):
      icv.icv_shift(h, jnp.ones(16), bad)
    with pytest.raises(ValueError, match="strength"):
      dataclasses.replace(CFG, strength=bad)
    with pytest.raises(ValueError, match="alpha_start"):
      dataclasses.replace(CFG, alpha_start=bad)
  with pytest.raises(ValueError, match="v must be"):
    icv.icv_shift(h, jnp.ones((3, 16)), 1.0)
  with pytest.raises(ValueError, match="h_x and h_y"):
    icv.icv_from_demos(np.ones((4, 2, 3)), np.ones((4, 2, 4)))
  model, variables = _model()
  context, continuation = _data(6)
  with pytest.raises(ValueError, match="vectors"):
    model.apply(variables, jnp.zeros((3, 1, 16)), continuation,
                method="shifted_nll")
  with pytest.raises(ValueError, match="feed"):
    model.apply(variables, context, continuation, "both", method="nll")
