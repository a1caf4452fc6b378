"""The Mamba mixer: equal to the block written out in float64 numpy; a
cache of constant size continues it exactly."""

import flax.linen as nn
import jax
import numpy as np
import pytest
from jax import numpy as jnp

from zoo.errors import ConfigError
from zoo.lm.mamba import Mamba, MambaConfig, init_cache

EMBED, LENGTH = 16, 11
CFG = MambaConfig(d_state=4)


@pytest.fixture(scope="module")
def mixer():
  module = Mamba(CFG)
  u = jnp.zeros((1, 3, EMBED))
  return module, nn.unbox(module.init(jax.random.key(0), u)["params"])


def _u(seed, length=LENGTH, batch=2):
  return jax.random.normal(jax.random.key(seed), (batch, length, EMBED))


def _numpy_block(p, u):
  """The mixer from its params, step by step, float64."""
  f = lambda x: np.asarray(x, np.float64)
  silu = lambda x: x / (1 + np.exp(-x))
  u = f(u)
  xz = u @ f(p["in_proj"]["kernel"])
  x, z = np.split(xz, 2, axis=-1)
  k = CFG.d_conv
  padded = np.concatenate([np.zeros((x.shape[0], k - 1, x.shape[2])), x], 1)
  x = silu(sum(padded[:, i:i + x.shape[1]] * f(p["conv_kernel"])[i]
               for i in range(k)) + f(p["conv_bias"]))
  rank = CFG.rank(EMBED)
  dbc = x @ f(p["x_proj"]["kernel"])
  dt = dbc[..., :rank] @ f(p["dt_proj_kernel"]) + f(p["dt_proj_bias"])
  dt = np.log1p(np.exp(dt))
  b, c = dbc[..., rank:rank + CFG.d_state], dbc[..., rank + CFG.d_state:]
  a = -np.exp(f(p["A_log"]))
  h = np.zeros((x.shape[0], x.shape[2], CFG.d_state))
  ys = []
  for t in range(x.shape[1]):
    h = np.exp(dt[:, t, :, None] * a) * h + (
        (dt[:, t] * x[:, t])[..., None] * b[:, t, None, :])
    ys.append(np.einsum("bdn,bn->bd", h, c[:, t]) + f(p["D"]) * x[:, t])
  memory = np.stack(ys, 1)
  return (memory * silu(z)) @ f(p["out_proj"]["kernel"]), memory


def test_block_equals_the_written_out_recurrence(mixer):
  module, params = mixer
  u = _u(1)
  out, memory, _ = module.apply({"params": params}, u)
  want_out, want_memory = _numpy_block(params, u)
  np.testing.assert_allclose(memory, want_memory, rtol=1e-4, atol=1e-5)
  np.testing.assert_allclose(out, want_out, rtol=1e-4, atol=1e-5)


def test_prefill_then_steps_equal_the_full_forward(mixer):
  module, params = mixer
  u = _u(2)
  full_out, full_memory, full_cache = module.apply({"params": params}, u)
  cache = init_cache(CFG, EMBED, 2)
  outs, memories = [], []
  for lo, hi in ((0, 5), (5, 6), (6, 7), (7, LENGTH)):
    out, memory, cache = module.apply({"params": params}, u[:, lo:hi],
                                      cache)
    outs.append(out)
    memories.append(memory)
  np.testing.assert_allclose(np.concatenate(outs, 1), full_out, atol=1e-5)
  np.testing.assert_allclose(np.concatenate(memories, 1), full_memory,
                             atol=1e-5)
  for got, want in zip(jax.tree.leaves(cache), jax.tree.leaves(full_cache)):
    np.testing.assert_allclose(got, want, atol=1e-5)


def test_cache_size_does_not_grow_with_length(mixer):
  module, params = mixer
  sizes = {n: [x.shape for x in jax.tree.leaves(
      module.apply({"params": params}, _u(3, n))[2])] for n in (2, 9, 40)}
  assert sizes[2] == sizes[9] == sizes[40]


def test_later_tokens_leave_earlier_outputs_alone(mixer):
  module, params = mixer
  u = _u(4)
  moved = u.at[:, 6:].add(1.0)
  a = module.apply({"params": params}, u)[0]
  b = module.apply({"params": params}, moved)[0]
  np.testing.assert_array_equal(a[:, :6], b[:, :6])
  assert not np.allclose(a[:, 6:], b[:, 6:])


def test_initialisation_is_mamba_s(mixer):
  _, params = mixer
  inner = CFG.expand * EMBED
  np.testing.assert_allclose(
      params["A_log"], np.log(np.tile(np.arange(1, 5), (inner, 1))))
  dt = np.log1p(np.exp(np.asarray(params["dt_proj_bias"])))
  assert np.all((dt >= CFG.dt_min * 0.999) & (dt <= CFG.dt_max * 1.001))
  np.testing.assert_array_equal(params["D"], np.ones(inner))


@pytest.mark.parametrize("bad", [dict(d_conv=1), dict(d_state=0),
                                 dict(dt_min=0.2, dt_max=0.1)])
def test_bad_configs_are_refused(bad):
  with pytest.raises(ConfigError, match="MambaConfig"):
    MambaConfig(**bad)
