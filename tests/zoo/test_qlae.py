"""QLAE's latent quantizer and autoencoder: nearest values, straight-through
gradients, which loss moves which parameters, and the weight-decay mask."""

import functools

import jax
import numpy as np
import pytest
from jax import numpy as jnp

from zoo.vq.qlae import QLAE, LatentQuantizer, QLAEConfig, decayed_params

N_Z, N_V = 6, 10
SMALL = QLAEConfig(image_size=16, num_latents=N_Z, widths=(4, 8), hidden=16)


def _quantizer(seed=0, batch=32):
  """A quantizer with random, unsorted values and random latents."""
  quantizer = LatentQuantizer(N_Z, N_V)
  z = jax.random.normal(jax.random.key(seed), (batch, N_Z)) * 0.6
  values = jax.random.uniform(jax.random.key(seed + 1), (N_Z, N_V),
                              minval=-1, maxval=1)
  return quantizer, {"params": {"values": values}}, z


@pytest.mark.parametrize("seed", range(3))
def test_indices_are_the_brute_force_nearest_values(seed):
  quantizer, variables, z = _quantizer(seed)
  z_hat, indices, _ = quantizer.apply(variables, z)
  values = np.asarray(variables["params"]["values"])
  distance = np.abs(np.asarray(z)[:, :, None] - values[None])  # [B, n_z, n_v]
  np.testing.assert_array_equal(indices, distance.argmin(-1))
  # Each output is a value of its own latent's codebook.
  expected = np.take_along_axis(values[None].repeat(len(z), 0),
                                np.asarray(indices)[..., None], -1)[..., 0]
  # z + sg(q - z): q up to float rounding.
  np.testing.assert_allclose(z_hat, expected, rtol=0, atol=1e-6)


def test_values_start_at_linspace_and_keep_leading_axes():
  quantizer = LatentQuantizer(N_Z, N_V)
  z = jnp.zeros((2, 3, N_Z))
  variables = quantizer.init(jax.random.key(0), z)
  values = np.asarray(jax.tree.leaves(variables["params"])[0])
  np.testing.assert_allclose(values, np.tile(np.linspace(-0.5, 0.5, N_V),
                                             (N_Z, 1)), atol=1e-7)
  z_hat, indices, _ = quantizer.apply(variables, z)
  assert z_hat.shape == (2, 3, N_Z) and indices.shape == (2, 3, N_Z)


def test_straight_through_gradient_is_the_identity():
  quantizer, variables, z = _quantizer(3)
  w = jax.random.normal(jax.random.key(9), z.shape)
  grad = jax.grad(lambda z: jnp.sum(w * quantizer.apply(variables, z)[0]))(z)
  np.testing.assert_allclose(grad, w, rtol=0, atol=1e-6)


def test_losses_are_the_mean_squared_distance_to_the_chosen_values():
  quantizer, variables, z = _quantizer(4)
  z_hat, _, aux = quantizer.apply(variables, z)
  mse = float(jnp.mean((z - z_hat) ** 2))
  np.testing.assert_allclose(aux["quantization"], mse, rtol=1e-6)
  np.testing.assert_allclose(aux["commitment"], mse, rtol=1e-6)
  np.testing.assert_allclose(aux["loss"], 0.02 * mse, rtol=1e-6)


@functools.cache
def _model_grads() -> dict[str, dict[str, float]]:
  """Gradients of each bottleneck loss term of the small QLAE, per
  top-level parameter group: term -> name -> max |grad|."""
  model = QLAE(SMALL)
  images = jax.random.bernoulli(jax.random.key(0), 0.3, (4, 16, 16)).astype(
      jnp.float32)
  params = model.init(jax.random.key(1), images)["params"]

  @jax.jit
  def grads(params):
    terms = lambda p: model.apply({"params": p}, images)[2]
    return {term: jax.grad(lambda p, t=term: terms(p)[t])(params)
            for term in ("quantization", "commitment")}

  return {term: {name: max(float(jnp.max(jnp.abs(g)))
                           for g in jax.tree.leaves(tree))
                 for name, tree in by_term.items()}
          for term, by_term in grads(params).items()}


def test_quantization_loss_moves_only_the_values():
  grads = dict(_model_grads()["quantization"])
  assert grads.pop("quantizer") > 0
  assert all(g == 0 for g in grads.values()), grads


def test_commitment_loss_moves_only_the_encoder():
  grads = dict(_model_grads()["commitment"])
  encoder = {k: grads.pop(k) for k in list(grads) if k.startswith("enc_")}
  assert encoder and all(g > 0 for g in encoder.values()), encoder
  assert all(g == 0 for g in grads.values()), grads  # values and decoder


def test_weight_decay_mask_is_the_kernels():
  model = QLAE(SMALL)
  params = model.init(jax.random.key(0), jnp.zeros((1, 16, 16)))["params"]
  flat = jax.tree_util.tree_flatten_with_path(decayed_params(params))[0]
  for path, decayed in flat:
    names = [getattr(k, "key", None) for k in path]  # boxes add a None
    assert decayed == ("kernel" in names), names
  assert any(d for _, d in flat) and not all(d for _, d in flat)


def test_autoencoder_returns_codes_or_continuous_latents():
  images = jnp.zeros((3, 16, 16))
  for quantize in (True, False):
    cfg = QLAEConfig(**{**SMALL.__dict__, "quantize": quantize})
    model = QLAE(cfg)
    variables = model.init(jax.random.key(0), images)
    logits, latents, aux = model.apply(variables, images)
    assert logits.shape == (3, 16, 16) and latents.shape == (3, N_Z)
    assert latents.dtype == (jnp.int32 if quantize else jnp.float32)
    assert aux["loss"].shape == ()


@pytest.mark.parametrize("call,message", [
    (lambda: LatentQuantizer(N_Z, N_V).init(jax.random.key(0),
                                            jnp.zeros((2, N_Z + 1))),
     r"z must be \[\.\.\., 6\]"),
    (lambda: QLAE(SMALL).init(jax.random.key(0), jnp.zeros((2, 8, 8))),
     r"images must be \[batch, 16, 16\]"),
    (lambda: QLAEConfig(image_size=20, widths=(4, 8, 8)),
     "divisible by 2"),
    (lambda: QLAEConfig(num_values=0), "num_values must be >= 1"),
])
def test_bad_input_is_one_clear_error(call, message):
  with pytest.raises(ValueError, match=message):
    call()
