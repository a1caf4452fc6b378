"""SambaY: its layout, its caches (constant except the one shared KV), the
gated memory unit, sliding windows, and cached decoding = full forward."""

import dataclasses

import flax.linen as nn
import jax
import numpy as np
import pytest
from jax import numpy as jnp

from zoo.errors import ConfigError
from zoo.layers.sliding import SlidingAttention, SlidingKVCache
from zoo.lm.gmu import GMU
from zoo.lm.mamba import MambaConfig
from zoo.lm.sambay import CrossAttention, SambaY, SambaYConfig, init_cache

CFG = SambaYConfig(vocab_size=23, embed_dim=16, num_layers=8, num_heads=2,
                   mlp_dim=24, window=4, mamba=MambaConfig(d_state=4))


def _model(memory="gmu"):
  model = SambaY(dataclasses.replace(CFG, memory=memory))
  tokens = jnp.zeros((1, 3), jnp.int32)
  return model, model.init(jax.random.key(0), tokens)["params"]


def _tokens(seed, length=13):
  return jax.random.randint(jax.random.key(seed), (2, length), 0,
                            CFG.vocab_size)


def test_layout():
  kinds = [CFG.layer_kind(i) for i in range(8)]
  assert kinds == ["mamba", "swa", "mamba", "swa", "mamba", "full", "gmu",
                   "cross"]
  yoco = dataclasses.replace(CFG, memory="cross_attention")
  assert [yoco.layer_kind(i) for i in range(6, 8)] == ["cross", "cross"]


@pytest.mark.parametrize("memory", ["gmu", "cross_attention"])
def test_prefill_then_steps_equal_the_full_forward(memory):
  model, params = _model(memory)
  tokens = _tokens(1)
  full = jax.jit(model.apply)({"params": params}, tokens)
  extend = jax.jit(lambda t, c: model.apply({"params": params}, t, c,
                                            method=SambaY.extend))
  cache = init_cache(model.config, 2, 16)
  parts = []
  for lo, hi in ((0, 6), (6, 7), (7, 8), (8, 13)):
    logits, cache = extend(tokens[:, lo:hi], cache)
    parts.append(logits)
  np.testing.assert_allclose(np.concatenate(parts, 1), full, atol=1e-4)


def test_causal():
  model, params = _model()
  a = _tokens(2)
  b = a.at[:, 8:].set((a[:, 8:] + 1) % CFG.vocab_size)
  run = lambda t: model.apply({"params": params}, t)
  np.testing.assert_array_equal(run(a)[:, :8], run(b)[:, :8])


def test_only_the_shared_kv_grows_with_the_cache():
  model, params = _model()
  shapes = {}
  for capacity in (8, 64):
    cache = init_cache(CFG, 2, capacity)
    _, cache = model.apply({"params": params}, _tokens(3, 6), cache,
                           method=SambaY.extend)
    shapes[capacity] = [x.shape for x in jax.tree.leaves(
        (cache.mamba, cache.swa))]
    assert cache.k.shape[1] == capacity
  assert shapes[8] == shapes[64]


def test_cross_layers_read_the_full_layer_s_kv():
  model, params = _model("cross_attention")
  seen = []
  def spy(next_fun, args, kwargs, context):
    if isinstance(context.module, CrossAttention):
      seen.append((args[1], args[2]))
    return next_fun(*args, **kwargs)
  cache = init_cache(model.config, 2, 9)
  with nn.intercept_methods(spy):
    _, after = model.apply({"params": params}, _tokens(4, 9), cache,
                           method=SambaY.extend)
  assert len(seen) == 2  # layers 6 and 7
  for k, v in seen:
    np.testing.assert_array_equal(k, after.k)
    np.testing.assert_array_equal(v, after.v)


def test_gmu_is_its_formula_and_zero_memory_gives_zero():
  x = jax.random.normal(jax.random.key(5), (2, 3, 8))
  m = jax.random.normal(jax.random.key(6), (2, 3, 12))
  gmu = GMU()
  params = nn.unbox(gmu.init(jax.random.key(7), x, m)["params"])
  w_in = np.asarray(params["in_proj"]["kernel"], np.float64)
  w_out = np.asarray(params["out_proj"]["kernel"], np.float64)
  g = np.asarray(x, np.float64) @ w_in
  want = (g / (1 + np.exp(-g)) * np.asarray(m, np.float64)) @ w_out
  np.testing.assert_allclose(gmu.apply({"params": params}, x, m), want,
                             atol=1e-6)
  np.testing.assert_array_equal(
      gmu.apply({"params": params}, x, jnp.zeros_like(m)), 0.0)


def _sliding(window=3):
  layer = SlidingAttention(num_heads=2, num_kv_heads=1, head_dim=4,
                           window=window)
  x = jax.random.normal(jax.random.key(8), (2, 10, 8))
  positions = jnp.broadcast_to(jnp.arange(10), (2, 10))
  empty = SlidingKVCache.empty(2, window, 1, 4)
  params = layer.init(jax.random.key(9), x, positions, empty)["params"]
  run = lambda x, p, c: layer.apply({"params": params}, x, p, c)
  return run, x, positions, empty


def test_sliding_attention_ignores_keys_outside_the_window():
  run, x, positions, empty = _sliding(window=3)
  moved = x.at[:, :3].add(1.0)  # positions 0..2
  a, b = run(x, positions, empty)[0], run(moved, positions, empty)[0]
  # Query 4 sees 2..4 (moved), query 5 sees 3..5 (untouched).
  assert not np.allclose(a[:, 4], b[:, 4])
  np.testing.assert_array_equal(a[:, 5:], b[:, 5:])


def test_sliding_cache_steps_equal_the_forward_past_the_window():
  run, x, positions, empty = _sliding(window=3)
  full, _ = run(x, positions, empty)
  cache, outs = empty, []
  for lo, hi in ((0, 2), (2, 3), (3, 7), (7, 8), (8, 10)):
    out, cache = run(x[:, lo:hi], positions[:, lo:hi], cache)
    outs.append(out)
  np.testing.assert_allclose(np.concatenate(outs, 1), full, atol=1e-5)
  assert sorted(np.asarray(cache.positions[0]).tolist()) == [7, 8, 9]


@pytest.mark.parametrize("bad", [dict(num_layers=6), dict(num_layers=0),
                                 dict(window=0), dict(memory="lstm"),
                                 dict(num_heads=3)])
def test_bad_configs_are_refused(bad):
  with pytest.raises(ConfigError, match="SambaYConfig"):
    dataclasses.replace(CFG, **bad)
