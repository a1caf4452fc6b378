"""Ettin: one param tree for both types, causality, window edges, padding."""

import dataclasses

import jax
import numpy as np
from jax import numpy as jnp

from zoo.lm.ettin import Ettin, EttinConfig

CFG = EttinConfig(vocab_size=29, embed_dim=16, num_layers=4, num_heads=2,
                  mlp_dim=24, window=4)


def _model(causal=False, **kw):
  model = Ettin(dataclasses.replace(CFG, causal=causal, **kw))
  return model, model.init(jax.random.key(0), jnp.zeros((1, 12), jnp.int32))


def _tokens(seed):
  return jax.random.randint(jax.random.key(seed), (2, 12), 4, 29)


def test_encoder_and_decoder_have_identical_param_trees():
  enc, dec = _model()[1], _model(True)[1]
  shapes = lambda v: jax.tree.map(lambda x: x.shape, v)
  assert shapes(enc) == shapes(dec)
  assert "attention_norm" not in enc["params"]["layer_0"]


def test_decoder_is_causal_and_encoder_is_not():
  a = _tokens(1)
  b = a.at[:, 8:].set((a[:, 8:] + 1 - 4) % 25 + 4)
  dec, v = _model(True)
  np.testing.assert_array_equal(dec.apply(v, a)[:, :8], dec.apply(v, b)[:, :8])
  enc, v = _model()
  assert not np.allclose(enc.apply(v, a)[:, :8], enc.apply(v, b)[:, :8])


def test_local_layer_sees_exactly_window_half():
  # One local layer (global_every large, layer 0 is global: use layer 1
  # alone via global_every=1 off): 2 layers, layer 1 local.
  model, v = _model(num_layers=2, global_every=2)
  mask = model.config.masks(12)[1]
  assert bool(mask[5, 7]) and not bool(mask[5, 8])  # |i-j| <= 2 only
  assert bool(mask[5, 3]) and not bool(mask[5, 2])


def test_padding_leaves_real_outputs_unchanged():
  model, v = _model()
  a = _tokens(2)
  padding = jnp.arange(12)[None] < jnp.array([[9], [12]])
  b = jnp.where(padding, a, (a + 3) % 29)
  out_a = model.apply(v, a, padding)
  out_b = model.apply(v, b, padding)
  np.testing.assert_allclose(out_a[0, :9], out_b[0, :9], atol=1e-5)


def test_a_window_as_long_as_the_text_is_full_attention():
  """With one RoPE base, local layers whose window covers the text equal
  global ones (window >= T is full attention)."""
  tokens = _tokens(9)
  for causal in (False, True):
    kw = dict(causal=causal, local_rope_base=1e4, global_rope_base=1e4)
    model, variables = _model(window=2 * 12 + 1, **kw)
    everywhere, _ = _model(global_every=1, **kw)
    np.testing.assert_allclose(
        model.apply(variables, tokens),
        everywhere.apply(variables, tokens), atol=1e-6)
