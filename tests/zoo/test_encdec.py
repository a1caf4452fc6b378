"""The encoder-decoder SLM: cached decoding equals the teacher-forced
forward, the source is encoded once, the decoder's cache ignores the source
length, cross-attention is exact, and bad input is refused."""

import flax.linen as nn
import jax
import numpy as np
import pytest
from jax import numpy as jnp

from ops.decoding import sampling
from zoo.errors import ConfigError
from zoo.lm.encdec import EncDecConfig, EncDecLM, EncodedLM

CFG = EncDecConfig(vocab_size=23, embed_dim=16, encoder_layers=2,
                   decoder_layers=2, num_heads=4, num_kv_heads=2, mlp_dim=24)


@pytest.fixture(scope="module")
def encdec():
  model = EncDecLM(CFG)
  variables = model.init(jax.random.key(0), jnp.zeros((1, 5), jnp.int32),
                         jnp.zeros((1, 3), jnp.int32))
  return model, variables["params"]


def _ids(seed, shape):
  return jax.random.randint(jax.random.key(seed), shape, 0, CFG.vocab_size)


def test_incremental_decoding_equals_teacher_forcing(encdec):
  model, params = encdec
  source, target = _ids(1, (2, 9)), _ids(2, (2, 7))
  full = model.apply({"params": params}, source, target)
  lm = EncodedLM.for_source(params, model, source)
  cache, pieces = lm.init_cache(2, 7), []
  for lo, hi in ((0, 3), (3, 4), (4, 7)):  # a prefill, then steps
    logits, cache = lm.extend(target[:, lo:hi], cache)
    pieces.append(logits)
  np.testing.assert_allclose(jnp.concatenate(pieces, 1), full, atol=1e-5)
  greedy = sampling.generate(lm, target[:, :1], 4).tokens
  forced = jnp.concatenate([target[:, :1], greedy[:, :3]], 1)
  np.testing.assert_array_equal(
      greedy, jnp.argmax(model.apply({"params": params}, source, forced), -1))


def test_the_source_is_encoded_once(encdec):
  model, params = encdec
  calls = []

  def count(next_fn, args, kwargs, context):
    if context.method_name == "encode":
      calls.append(1)
    return next_fn(*args, **kwargs)

  with nn.intercept_methods(count):
    lm = EncodedLM.for_source(params, model, _ids(3, (2, 6)))
    sampling.generate(lm, _ids(4, (2, 1)), 5)
  assert len(calls) == 1


def test_the_decoder_cache_ignores_the_source_length(encdec):
  model, params = encdec
  shapes = [jax.tree.map(jnp.shape, EncodedLM.for_source(
      params, model, _ids(5, (2, s))).init_cache(2, 8)) for s in (4, 40)]
  assert shapes[0] == shapes[1]
  assert shapes[0].k == (CFG.decoder_layers, 2, 8, 2, 4)


def test_the_source_is_read_bidirectionally_and_the_target_causally(encdec):
  model, params = encdec
  source, target = _ids(6, (1, 8)), _ids(7, (1, 6))
  apply = lambda s, t: model.apply({"params": params}, s, t)
  base = apply(source, target)
  late_source = source.at[:, -1].set((source[:, -1] + 1) % CFG.vocab_size)
  assert not np.allclose(apply(late_source, target)[:, 0], base[:, 0])
  late_target = target.at[:, 4].set((target[:, 4] + 1) % CFG.vocab_size)
  np.testing.assert_allclose(apply(source, late_target)[:, :4],
                             base[:, :4], atol=1e-6)


def test_cross_attention_equals_brute_force(encdec):
  model, params = encdec
  cross = model.bind({"params": params}).decoder[0].cross
  x = jax.random.normal(jax.random.key(8), (2, 3, 16))
  states = jax.random.normal(jax.random.key(9), (2, 5, 16))
  k, v = cross.memory(states)
  q = np.asarray(cross.query(x))  # [B, T, 4, 4]
  k, v = (np.repeat(np.asarray(a), 2, axis=2) for a in (k, v))  # GQA
  logits = np.einsum("bthd,bshd->bhts", q, k) / 2.0
  w = np.exp(logits - logits.max(-1, keepdims=True))
  heads = np.einsum("bhts,bshd->bthd", w / w.sum(-1, keepdims=True), v)
  np.testing.assert_allclose(cross(x, cross.memory(states)),
                             cross.out(jnp.asarray(heads)), atol=1e-5)


def test_bad_input_is_refused(encdec):
  model, params = encdec
  with pytest.raises(ConfigError, match="decoder layer"):
    EncDecConfig(decoder_layers=0)
  lm = EncodedLM.for_source(params, model, _ids(10, (2, 4)))
  with pytest.raises(ValueError, match="batch"):
    lm.init_cache(3, 4)
  cache = lm.init_cache(2, 4)
  _, cache = lm.extend(_ids(11, (2, 3)), cache)
  with pytest.raises(ValueError, match="capacity 4"):
    lm.extend(_ids(12, (2, 2)), cache)
