"""zoo.vq.pvq: rotated, PVQ-coded decoder LMs and the RTN baseline."""

import flax.linen as nn
import jax
import numpy as np
import pytest
from jax import numpy as jnp

from zoo.lm.decoder import CachedLM, DecoderConfig, DecoderLM
from zoo.vq import pvq

# embed_dim 48: Hadamard blocks of 16, as the stdlib LM's 192 takes 64s.
CFG = DecoderConfig(vocab_size=37, embed_dim=48, num_layers=2, num_heads=2,
                    mlp_dim=64)


@pytest.fixture(scope="module")
def lm():
  model = DecoderLM(CFG)
  tokens = jnp.zeros((1, 8), jnp.int32)
  params = nn.meta.unbox(model.init(jax.random.key(0), tokens)["params"])
  return CachedLM(params, model)


def _tokens(seed=1):
  return jax.random.randint(jax.random.key(seed), (2, 12), 0,
                            CFG.vocab_size)


@jax.jit
def _logits(lm, tokens):
  return lm(tokens)


def _with_kernels(lm, kernels):
  """`lm` with each projection kernel [in, out] replaced."""
  params = jax.tree.map(lambda a: a, lm.params)
  for path, (kernel, _) in pvq.projections(lm).items():
    node = params
    for name in path:
      node = node[name]
    node["kernel"] = kernels[path].reshape(kernel.shape)
  return lm.replace(params=params)


def test_rotated_fp32_lm_equals_the_original(lm):
  weights = pvq.rotated_weights(lm, seed=3)
  # Query, key, value, out, and the MLP's projections of both blocks.
  assert len(weights) >= 2 * 4 + 2 * 2
  tokens = _tokens()
  np.testing.assert_allclose(pvq.apply_rotated(lm, weights, tokens),
                             _logits(lm, tokens), rtol=1e-4, atol=1e-4)


def test_coded_lm_runs_the_decoded_kernels(lm):
  """apply_rotated with codes == the model holding the decoded kernels."""
  coded = pvq.quantize_lm(lm, pvq.PVQConfig(dim=8, pulses=6, gain_bits=3))
  tokens = _tokens(2)
  decoded = _with_kernels(lm, pvq.decoded_kernels(coded))
  np.testing.assert_allclose(pvq.apply_rotated(lm, coded, tokens),
                             _logits(decoded, tokens), rtol=1e-4, atol=1e-4)
  bpw = pvq.bits_per_weight(coded)
  assert 1.0 < bpw < 4.0


def test_hessians_are_input_grams(lm):
  tokens = _tokens(4)
  hessians = pvq.projection_hessians(lm, np.asarray(tokens), batch=1)
  inputs = pvq.projection_inputs(lm, tokens)
  assert hessians.keys() == inputs.keys()
  for path, x in inputs.items():
    np.testing.assert_allclose(hessians[path], x.T @ x, rtol=1e-4, atol=1e-3)


def test_rtn_error_is_within_half_a_step():
  w = jax.random.normal(jax.random.key(5), (8, 128))
  w_hat, bpw = pvq.rtn(w, bits=3, group=64)
  assert bpw == 3.5
  g = np.asarray(w).reshape(8, 2, 64)
  step = (g.max(-1) - g.min(-1)) / 7
  err = np.abs(np.asarray(w - w_hat)).reshape(8, 2, 64).max(-1)
  # fp16 scale and zero add a little to the half step.
  assert np.all(err <= step / 2 * 1.01 + 1e-3)
  assert len(np.unique(np.asarray(w_hat).reshape(8, 2, 64)[0, 0])) <= 8
  with pytest.raises(ValueError, match="group size 48 must divide"):
    pvq.rtn(w, bits=3, group=48)
