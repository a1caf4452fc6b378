"""Properties of the quantizers and the VQ autoencoder that a wrong
implementation would fail."""

import jax
import numpy as np
import optax
import pytest
from jax import numpy as jnp

import zoo
from zoo.vq.autoencoder import VQAutoencoderConfig
from zoo.vq.codebooks import CodebookConfig
from zoo.vq.codebooks.ema import EMACodebook
from zoo.vq.codebooks.learned import LearnedCodebook
from zoo.vq.codebooks.simvq import SimVQCodebook
from zoo.vq.quantizer import QuantizerConfig, VectorQuantizer, rotate_to

D, K = 8, 64


def _z(seed=0, n=96):
  return jax.random.normal(jax.random.key(seed), (n, 2, D))


def _init(cfg, z):
  q = VectorQuantizer(cfg, dim=D)
  return q, q.init({"params": jax.random.key(1)}, z)


def _codebook(q, variables):
  return q.apply(variables, method=q.effective_codebook)


def _one_sgd_step(q, variables, z):
  def loss(params):
    _, _, aux = q.apply({**variables, "params": params}, z)
    return aux["loss"]

  grads = jax.grad(loss)(variables["params"])
  params = optax.apply_updates(
      variables["params"], jax.tree.map(lambda g: -0.1 * g, grads))
  return {**variables, "params": params}


def test_simvq_moves_every_code_and_vq_only_used_ones():
  z = _z()
  sim, v_sim = _init(QuantizerConfig(num_codes=K, codebook="simvq"), z)
  before = _codebook(sim, v_sim)
  after = _codebook(sim, _one_sgd_step(sim, v_sim, z))
  changed = np.any(np.asarray(before != after), axis=-1)
  assert changed.mean() >= 0.99

  vq, v_vq = _init(QuantizerConfig(num_codes=K, codebook="learned"), z)
  _, used, _ = vq.apply(v_vq, z)
  before = _codebook(vq, v_vq)
  after = _codebook(vq, _one_sgd_step(vq, v_vq, z))
  changed = np.any(np.asarray(before != after), axis=-1)
  expected = np.zeros(K, bool)
  expected[np.unique(np.asarray(used))] = True
  np.testing.assert_array_equal(changed, expected)
  assert 0 < expected.mean() < 1


def test_simvq_frozen_codebook_is_not_trained():
  z = _z()
  sim, v = _init(QuantizerConfig(num_codes=K, codebook="simvq"), z)
  assert "codebook" not in v["params"]  # only the linear map is trainable
  frozen = v["frozen"]["codebook"]
  np.testing.assert_allclose(jnp.std(frozen), D**-0.5, rtol=0.1)
  assert set(v["params"]) == {"code_transform"}


@pytest.mark.parametrize("kind", ["learned", "ema", "simvq"])
def test_indices_are_the_brute_force_nearest_codes(kind):
  z = _z(3)
  q, v = _init(QuantizerConfig(num_codes=K, codebook=kind), z)
  _, idx, _ = q.apply(v, z)
  codes = np.asarray(_codebook(q, v), np.float64)
  flat = np.asarray(z, np.float64).reshape(-1, D)
  dist = ((flat[:, None] - codes[None]) ** 2).sum(-1)
  np.testing.assert_array_equal(np.asarray(idx).ravel(), dist.argmin(-1))


def test_straight_through_gradient_is_identity():
  z = _z(4)
  q, v = _init(QuantizerConfig(num_codes=K, codebook="simvq"), z)
  g = jax.random.normal(jax.random.key(5), z.shape)
  grad = jax.grad(lambda z_: jnp.sum(q.apply(v, z_)[0] * g))(z)
  np.testing.assert_allclose(grad, g, rtol=1e-6)


def test_rotation_trick_value_and_gradient():
  z = jax.random.normal(jax.random.key(6), (5, D))
  q = jax.random.normal(jax.random.key(7), (5, D))
  np.testing.assert_allclose(rotate_to(z, q), q, atol=1e-5)
  g = jax.random.normal(jax.random.key(8), (5, D))
  grad = jax.grad(lambda z_: jnp.sum(rotate_to(z_, q) * g))(z)
  # The gradient is g rotated back (R^T g) and scaled: same norm ratio,
  # and not the identity of straight-through.
  ratio = jnp.linalg.norm(q, axis=-1) / jnp.linalg.norm(z, axis=-1)
  np.testing.assert_allclose(jnp.linalg.norm(grad, axis=-1),
                             ratio * jnp.linalg.norm(g, axis=-1), rtol=1e-4)
  assert not np.allclose(grad, g, atol=1e-3)
  # R maps the direction of z onto the direction of q, so R^T q_hat = z_hat.
  z_hat = z / jnp.linalg.norm(z, axis=-1, keepdims=True)
  q_hat = q / jnp.linalg.norm(q, axis=-1, keepdims=True)
  back = jax.grad(lambda z_: jnp.sum(rotate_to(z_, q) * q_hat))(z)
  np.testing.assert_allclose(back / ratio[:, None], z_hat, atol=1e-5)


def test_ema_update_matches_formula():
  z = _z(9)
  cfg = QuantizerConfig(num_codes=K, codebook=EMACodebook(decay=0.9))
  q, v = _init(cfg, z)
  (_, idx, _), updated = q.apply(v, z, train=True, mutable=["vq_stats"])
  flat = np.asarray(z).reshape(-1, D)
  counts = np.bincount(np.asarray(idx).ravel(), minlength=K)
  sums = np.zeros((K, D))
  np.add.at(sums, np.asarray(idx).ravel(), flat)
  size = 0.9 * 1.0 + 0.1 * counts
  total = 0.9 * np.asarray(v["vq_stats"]["cluster_sum"]) + 0.1 * sums
  n = size.sum()
  smoothed = (size + 1e-5) / (n + K * 1e-5) * n
  np.testing.assert_allclose(updated["vq_stats"]["codebook"],
                             total / smoothed[:, None], rtol=1e-4, atol=1e-5)
  # Not updated outside training.
  _, same = q.apply(v, z, train=False, mutable=["vq_stats"])
  np.testing.assert_array_equal(same["vq_stats"]["codebook"],
                                v["vq_stats"]["codebook"])


def test_dead_codes_restart_at_batch_vectors():
  z = _z(10)
  cfg = QuantizerConfig(num_codes=K, codebook=EMACodebook(
      decay=0.5, dead_code_threshold=0.6))
  q, v = _init(cfg, z)
  (_, idx, _), updated = q.apply(v, z, train=True, mutable=["vq_stats"],
                                 rngs={"restart": jax.random.key(0)})
  counts = np.bincount(np.asarray(idx).ravel(), minlength=K)
  dead = 0.5 + 0.5 * counts < 0.6
  assert dead.any()
  codes = np.asarray(updated["vq_stats"]["codebook"])
  flat = np.asarray(z).reshape(-1, D)
  is_batch_vector = np.isclose(codes[:, None], flat[None]).all(-1).any(-1)
  assert is_batch_vector[dead].all()


def test_kmeans_init_fits_the_first_batch():
  z = _z(11, n=256)
  flat = np.asarray(z).reshape(-1, D)

  def quantization_error(cfg):
    q, v = _init(cfg, z)
    codes = np.asarray(_codebook(q, v))
    return ((flat[:, None] - codes[None]) ** 2).sum(-1).min(-1).mean()

  random_err = quantization_error(QuantizerConfig(num_codes=16))
  kmeans_err = quantization_error(QuantizerConfig(
      num_codes=16, codebook=LearnedCodebook(kmeans_init=True)))
  assert kmeans_err < 0.8 * random_err


@pytest.mark.parametrize("system", ["simvq", "vqvae"])
def test_decoding_from_indices_equals_forward(system):
  cfg = VQAutoencoderConfig(quantizer=QuantizerConfig(
      num_codes=K, codebook="simvq" if system == "simvq" else "learned"))
  model = zoo.build(system, cfg)
  x = jax.random.uniform(jax.random.key(12), (16, 64))
  v = model.init({"params": jax.random.key(0)}, x)
  recon, idx, _ = model.apply(v, x)
  decoded = model.apply(v, idx, method=model.decode_indices)
  np.testing.assert_allclose(decoded, recon, atol=1e-5)
  if system == "simvq":
    # The paper's public code decodes from the raw frozen codebook; that is
    # far from the forward output.
    raw = jnp.take(v["frozen"]["quantizer"]["codebook"], idx, axis=0)
    wrong = model.apply(v, raw, method=model.decode)
    assert float(jnp.max(jnp.abs(wrong - recon))) > 1e-2


def test_bad_quantizer_options_are_rejected():
  # Options of one kind do not exist on another.
  with pytest.raises(TypeError, match="dead_code_threshold"):
    LearnedCodebook(dead_code_threshold=1.0)
  with pytest.raises(TypeError, match="kmeans_init"):
    SimVQCodebook(kmeans_init=True)
  with pytest.raises(ValueError, match="known: ema, learned, simvq"):
    QuantizerConfig(codebook="fsq")
  with pytest.raises(ValueError, match="a codebook kind's config"):
    QuantizerConfig(codebook=3)
  with pytest.raises(ValueError, match="num_codes must be >= 1"):
    QuantizerConfig(num_codes=0)


def test_a_kind_tag_stands_for_its_defaults():
  assert QuantizerConfig(codebook="ema").codebook == EMACodebook()
  assert CodebookConfig.kinds() == {"ema": EMACodebook,
                                    "learned": LearnedCodebook,
                                    "simvq": SimVQCodebook}


@pytest.mark.parametrize("system", ["simvq", "vqvae"])
def test_an_empty_batch_is_refused_clearly(system):
  """The quantizer's loss, usage metrics and updates are batch statistics:
  an empty batch is an error that says so, at init and at apply."""
  model = zoo.build(system)
  with pytest.raises(ValueError, match="at least one vector"):
    model.init({"params": jax.random.key(0)}, jnp.zeros((0, 64)))
  v = model.init({"params": jax.random.key(0)}, jnp.zeros((2, 64)))
  with pytest.raises(ValueError, match="at least one vector"):
    model.apply(v, jnp.zeros((0, 64)))
  q = VectorQuantizer(QuantizerConfig(num_codes=K), dim=D)
  with pytest.raises(ValueError, match=r"must be \[\.\.\., 8\]"):
    q.init({"params": jax.random.key(1)}, jnp.zeros((4, D + 1)))


@pytest.mark.parametrize("codebook", ["learned", "simvq",
                                      EMACodebook(dead_code_threshold=0.9),
                                      LearnedCodebook(kmeans_init=True)])
def test_quantizers_do_not_depend_on_x64(codebook):
  """Same variables, outputs and updates (float32 codes, the same random
  restarts) with jax_enable_x64 on."""
  z = _z(13)
  cfg = QuantizerConfig(num_codes=K, codebook=codebook)

  def run():
    q, v = _init(cfg, z)
    return v, q.apply(v, z, train=True, mutable=["vq_stats"],
                      rngs={"restart": jax.random.key(2)})

  want = run()
  with jax.enable_x64(True):
    got = run()
  for g, w in zip(jax.tree.leaves(got), jax.tree.leaves(want), strict=True):
    assert g.dtype == w.dtype
    np.testing.assert_array_equal(g, w)
