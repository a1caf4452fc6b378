"""DecoderLM's `layer_shift` and `dropout`: off, the decoder is unchanged;
on, cached decoding still equals the full forward."""

import dataclasses

import jax
import numpy as np
import pytest
from jax import numpy as jnp

from zoo.errors import ConfigError
from zoo.lm.decoder import CachedLM, DecoderConfig, DecoderLM

CFG = DecoderConfig(vocab_size=41, embed_dim=32, num_layers=3, num_heads=4,
                    mlp_dim=48)


@pytest.fixture(scope="module")
def lm():
  model = DecoderLM(CFG)
  tokens = jnp.zeros((1, 4), jnp.int32)
  return CachedLM(model.init(jax.random.key(0), tokens)["params"], model)


def _tokens(key, shape=(2, 10)):
  return jax.random.randint(jax.random.key(key), shape, 0, CFG.vocab_size)


def _per_layer_shift(key):
  """Adds a different random vector to every layer's output."""
  vectors = jax.random.normal(jax.random.key(key),
                              (CFG.num_layers, CFG.embed_dim))
  return lambda layer, x: x + vectors[layer]


def test_identity_shift_is_bit_identical(lm):
  tokens = _tokens(1)
  apply = lambda **kw: lm.module.apply({"params": lm.params}, tokens, **kw)
  np.testing.assert_array_equal(apply(layer_shift=lambda i, x: x), apply())


def test_shift_is_called_once_per_layer_in_order(lm):
  seen = []
  def record(layer, x):
    seen.append((layer, x.shape))
    return x
  lm.module.apply({"params": lm.params}, _tokens(2, (3, 5)),
                  layer_shift=record)
  assert seen == [(i, (3, 5, CFG.embed_dim)) for i in range(CFG.num_layers)]


def test_shifted_prefill_and_steps_equal_the_shifted_forward(lm):
  tokens, shift = _tokens(3), _per_layer_shift(4)
  full = lm.module.apply({"params": lm.params}, tokens, layer_shift=shift)
  assert not np.allclose(full, lm(tokens), atol=1e-3)  # the shift acts
  cache = lm.init_cache(2, 12)
  parts = []
  for lo, hi in ((0, 6), (6, 7), (7, 10)):
    logits, cache = lm.extend(tokens[:, lo:hi], cache, layer_shift=shift)
    parts.append(logits)
  np.testing.assert_allclose(np.concatenate(parts, 1), full, atol=2e-5)


def test_shift_is_causal(lm):
  """A position-wise shift keeps the model causal: a later token cannot
  move an earlier logit."""
  a = _tokens(5)
  b = a.at[:, 7:].set((a[:, 7:] + 1) % CFG.vocab_size)
  apply = lambda t: lm.module.apply({"params": lm.params}, t,
                                    layer_shift=_per_layer_shift(6))
  np.testing.assert_array_equal(apply(a)[:, :7], apply(b)[:, :7])


@pytest.mark.parametrize("bad", [lambda i, x: x[:, :-1],
                                 lambda i, x: x.sum(-1),
                                 lambda i, x: 0.0])
def test_a_misshaped_shift_is_refused(lm, bad):
  with pytest.raises(ValueError, match="layer_shift"):
    lm.module.apply({"params": lm.params}, _tokens(7), layer_shift=bad)


def test_dropout_adds_no_params_and_is_off_by_default(lm):
  noisy = DecoderLM(dataclasses.replace(CFG, dropout=0.3))
  tokens = _tokens(8)
  params = noisy.init(jax.random.key(0), tokens)["params"]
  jax.tree.map(np.testing.assert_array_equal, params, lm.params)
  np.testing.assert_array_equal(noisy.apply({"params": params}, tokens),
                                lm(tokens))


def test_dropout_when_asked_is_random_but_reproducible(lm):
  noisy = DecoderLM(dataclasses.replace(CFG, dropout=0.3))
  tokens = _tokens(9)
  run = lambda seed: noisy.apply({"params": lm.params}, tokens,
                                 deterministic=False,
                                 rngs={"dropout": jax.random.key(seed)})
  np.testing.assert_array_equal(run(0), run(0))
  assert not np.allclose(run(0), run(1), atol=1e-3)
  assert not np.allclose(run(0), lm(tokens), atol=1e-3)


@pytest.mark.parametrize("rate", [-0.1, 1.0])
def test_a_bad_dropout_rate_is_refused(rate):
  with pytest.raises(ConfigError, match="dropout"):
    DecoderConfig(dropout=rate)
