"""A Mamba-1 mixer (Gu & Dao, 2023) with a constant-size decoding cache.

    x, z = in_proj(u)                  both [B, T, Di], Di = expand * E
    x = silu(causal depthwise conv_k(x))
    dt_low, B, C = x_proj(x)           rank ceil(E / 16), N, N
    y = selective_scan(x, dt_proj.kernel dt_low, A = -exp(A_log), B, C, D,
                       delta_bias = dt_proj.bias, softplus)
    out = out_proj(y * silu(z))

as mamba-ssm's `Mamba` (S4D-real A init, log-uniform dt init in
[dt_min, dt_max], D = 1, bias-free in/out projections, biased conv).
`__call__` also returns y before its z gate, the memory that SambaY's gated
memory units read.

The cache is the conv's last k - 1 inputs and the scan's state: its size
does not grow with the sequence. `__call__` over new tokens with a cache
continues from it, so prefill-then-steps equals one full forward.
"""

import dataclasses
import math

import flax.linen as nn
import flax.struct
import jax
from jax import numpy as jnp

from ops.ssm import selective_scan
from zoo import sharding
from zoo.errors import ConfigError
from zoo.layers.transformer import Projection


@dataclasses.dataclass(frozen=True)
class MambaConfig:
  """Attributes: as mamba-ssm's `Mamba` (d_state, d_conv, expand, dt_min,
  dt_max); `dt_rank` 0 means ceil(embed_dim / 16)."""

  d_state: int = 16
  d_conv: int = 4
  expand: int = 2
  dt_rank: int = 0
  dt_min: float = 1e-3
  dt_max: float = 0.1

  def __post_init__(self):
    if self.d_state < 1 or self.d_conv < 2 or self.expand < 1:
      raise ConfigError(f"MambaConfig: need d_state >= 1, d_conv >= 2 and "
                        f"expand >= 1, got {self.d_state}, {self.d_conv}, "
                        f"{self.expand}")
    if not 0 < self.dt_min <= self.dt_max:
      raise ConfigError(f"MambaConfig: need 0 < dt_min <= dt_max, got "
                        f"{self.dt_min}, {self.dt_max}")

  def rank(self, embed_dim: int) -> int:
    return self.dt_rank or math.ceil(embed_dim / 16)


@flax.struct.dataclass
class MambaCache:
  """conv: [B, d_conv - 1, Di] last conv inputs; ssm: [B, Di, N] f32."""

  conv: jax.Array
  ssm: jax.Array


def init_cache(config: MambaConfig, embed_dim: int, batch: int,
               dtype=jnp.float32) -> MambaCache:
  inner = config.expand * embed_dim
  return MambaCache(
      jnp.zeros((batch, config.d_conv - 1, inner), dtype),
      jnp.zeros((batch, inner, config.d_state), jnp.float32))


def _dt_bias_init(config: MambaConfig):
  """softplus^-1 of dt ~ log-uniform [dt_min, dt_max] (mamba-ssm)."""
  def init(key, shape, dtype=jnp.float32):
    lo, hi = math.log(config.dt_min), math.log(config.dt_max)
    dt = jnp.exp(jax.random.uniform(key, shape, dtype, lo, hi))
    return dt + jnp.log(-jnp.expm1(-dt))
  return init


class Mamba(nn.Module):
  """The mixer; residual and norm are the caller's."""

  config: MambaConfig = MambaConfig()
  dtype: jnp.dtype = jnp.float32

  @nn.compact
  def __call__(self, u, cache: MambaCache | None = None):
    """Args:

      u: [B, T, E].
      cache: state after the earlier tokens, or None (a fresh sequence).

    Returns:
      (out [B, T, E], memory [B, T, Di] (y before the z gate),
       the cache after these tokens).
    """
    cfg = self.config
    batch, _, embed = u.shape
    inner, rank, n = cfg.expand * embed, cfg.rank(embed), cfg.d_state
    if cache is None:
      cache = init_cache(cfg, embed, batch, self.dtype)
    dense = lambda features, axes, name, bias=False: Projection(
        (features,), axes, dtype=self.dtype, bias=bias, name=name)
    xz = dense(2 * inner, (sharding.EMBED, sharding.MLP), "in_proj")(u)
    x, z = jnp.split(xz, 2, axis=-1)

    # Causal depthwise conv over [cached inputs; new inputs].
    kernel = self.param("conv_kernel", nn.with_logical_partitioning(
        nn.initializers.lecun_normal(), (None, sharding.MLP)),
                        (cfg.d_conv, inner), jnp.float32)
    conv_bias = self.param("conv_bias", nn.with_logical_partitioning(
        nn.initializers.zeros_init(), (sharding.MLP,)), (inner,),
                           jnp.float32)
    window = jnp.concatenate([cache.conv.astype(x.dtype), x], axis=1)
    t = x.shape[1]
    conv = sum(window[:, i:i + t] * kernel[i].astype(x.dtype)
               for i in range(cfg.d_conv)) + conv_bias.astype(x.dtype)
    x = jax.nn.silu(conv)

    dbc = dense(rank + 2 * n, (sharding.MLP, None), "x_proj")(x)
    dt_low, b, c = jnp.split(dbc, [rank, rank + n], axis=-1)
    dt_kernel = self.param("dt_proj_kernel", nn.with_logical_partitioning(
        lambda key, shape: jax.random.uniform(
            key, shape, minval=-rank ** -0.5, maxval=rank ** -0.5),
        (None, sharding.MLP)), (rank, inner))
    dt_bias = self.param("dt_proj_bias", nn.with_logical_partitioning(
        _dt_bias_init(cfg), (sharding.MLP,)), (inner,), jnp.float32)
    a_log = self.param("A_log", nn.with_logical_partitioning(
        lambda key, shape: jnp.log(jnp.broadcast_to(
            jnp.arange(1, n + 1, dtype=jnp.float32), shape)),
        (sharding.MLP, None)), (inner, n))
    skip = self.param("D", nn.with_logical_partitioning(
        nn.initializers.ones_init(), (sharding.MLP,)), (inner,), jnp.float32)

    memory, state = selective_scan(
        x, dt_low @ dt_kernel.astype(dt_low.dtype), -jnp.exp(a_log), b, c,
        D=skip, delta_bias=dt_bias, initial_state=cache.ssm,
        return_last_state=True)
    out = dense(embed, (sharding.MLP, sharding.EMBED), "out_proj")(
        memory * jax.nn.silu(z))
    new_cache = MambaCache(window[:, -(cfg.d_conv - 1):].astype(
        cache.conv.dtype), state)
    return out, memory, new_cache
