"""Sliding-window self-attention with a rolling cache of `window` slots.

Token at position p is written to slot p % window, so the cache holds the
last `window` tokens whatever the sequence length, and decoding step by
step equals the forward under `ops.sliding_window_mask` (causal).
"""

import flax.linen as nn
import flax.struct
import jax
from jax import numpy as jnp

from ops.attention import windowed_attention
from zoo import sharding
from zoo.layers.positions import PositionConfig
from zoo.layers.positions.none import NoPositions
from zoo.layers.transformer import Projection


@flax.struct.dataclass
class SlidingKVCache:
  """k, v: [B, W, Hkv, Dh]; positions: [B, W] int32, -1 for empty slots."""

  k: jax.Array
  v: jax.Array
  positions: jax.Array

  @classmethod
  def empty(cls, batch: int, window: int, kv_heads: int, head_dim: int,
            dtype=jnp.float32) -> "SlidingKVCache":
    zeros = jnp.zeros((batch, window, kv_heads, head_dim), dtype)
    return cls(zeros, zeros, jnp.full((batch, window), -1, jnp.int32))

  def write(self, k, v, positions) -> "SlidingKVCache":
    """The cache after tokens k, v [B, T, Hkv, Dh] at positions [B, T]
    (consecutive per row); only the last W of them can stay."""
    window = self.k.shape[1]
    k, v, positions = (x[:, -window:] for x in (k, v, positions))
    slots = positions % window  # [B, T]: distinct, as T <= W
    rows = jnp.arange(k.shape[0])[:, None]
    return SlidingKVCache(self.k.at[rows, slots].set(k.astype(self.k.dtype)),
                          self.v.at[rows, slots].set(v.astype(self.v.dtype)),
                          self.positions.at[rows, slots].set(positions))


class SlidingAttention(nn.Module):
  """Multi-head (grouped-query) attention over the last `window` tokens."""

  num_heads: int
  num_kv_heads: int
  head_dim: int
  window: int
  dtype: jnp.dtype = jnp.float32
  positions: PositionConfig = NoPositions()
  rope_base: float = 10_000.0

  @nn.compact
  def __call__(self, x, positions, cache: SlidingKVCache):
    """x [B, T, E] new tokens at positions [B, T] (consecutive, after the
    cached ones) -> ([B, T, E], the cache with them)."""
    axes = sharding.EMBED, sharding.HEADS, sharding.KV
    project = lambda heads, name: Projection(
        (heads, self.head_dim), axes, dtype=self.dtype, name=name)(x)
    q = self.positions.rotate(project(self.num_heads, "query"), positions,
                              self.rope_base)
    k = self.positions.rotate(project(self.num_kv_heads, "key"), positions,
                              self.rope_base)
    v = project(self.num_kv_heads, "value")
    keys = jnp.concatenate([cache.k.astype(k.dtype), k], axis=1)
    values = jnp.concatenate([cache.v.astype(v.dtype), v], axis=1)
    key_positions = jnp.concatenate([cache.positions, positions], axis=1)
    heads = windowed_attention(q, keys, values, positions, key_positions,
                               self.window)
    out = Projection((x.shape[-1],),
                     (sharding.HEADS, sharding.KV, sharding.EMBED),
                     contract=2, dtype=self.dtype, name="out")(heads)
    return out, cache.write(k, v, positions)
