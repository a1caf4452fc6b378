"""Pooled-query self-attention (ARC-Encoder's "mean_sa" pooling).

    y = pooled_query_attention(q, k, v, pool=4)   # [B, ceil(L/4), H, D]

The queries of consecutive groups of `pool` tokens are averaged (after the
rotary positions are applied, so a pooled query is exactly the mean of its
members' queries); keys and values stay unpooled. A sequence of L tokens
gives ceil(L / pool) outputs; the last group holds the L mod pool ragged
tail (when there is one) and averages over its real members only. With
`pool=1` the layer is ordinary self-attention.

`PooledBlock` is the zoo's pre-norm block (`zoo.layers.transformer.Block`)
with this attention: its parameters have the same names and shapes, so a
trained decoder's block loads into it. The residual stream is pooled the
same way (group means) before the attention output is added.
"""

import flax.linen as nn
import jax
from jax import numpy as jnp

from zoo import sharding
from zoo.layers.positions import PositionConfig
from zoo.layers.positions.rope import Rope
from zoo.layers.transformer import MLP, BlockOptions, Projection


def _check_pool(pool, where: str) -> None:
  if isinstance(pool, bool) or not isinstance(pool, int) or pool < 1:
    raise ValueError(f"{where}: pool must be an int >= 1, got {pool!r}")


def pooled_length(length: int, pool: int) -> int:
  """ceil(length / pool): the number of groups (outputs)."""
  _check_pool(pool, "pooled_length")
  return -(-length // pool)


def group_means(x: jax.Array, pool: int) -> jax.Array:
  """[B, L, ...] -> [B, ceil(L/pool), ...]: means of consecutive groups of
  `pool` rows along axis 1, the ragged last group over its real rows."""
  _check_pool(pool, "group_means")
  b, length = x.shape[:2]
  n = pooled_length(length, pool)
  rest = x.shape[2:]
  padded = jnp.pad(x, [(0, 0), (0, n * pool - length)] + [(0, 0)] * len(rest))
  sums = padded.reshape(b, n, pool, *rest).sum(2)
  counts = jnp.minimum(pool, length - pool * jnp.arange(n))  # [n]
  return sums / counts.reshape(1, n, *([1] * len(rest))).astype(sums.dtype)


def pooled_query_attention(q: jax.Array, k: jax.Array, v: jax.Array,
                           pool: int, causal: bool = False) -> jax.Array:
  """Attention of group-averaged queries over all keys, in f32.

  Args:
    q: [B, L, H, D] queries (positions already applied).
    k, v: [B, L, Hkv, D] keys and values; H % Hkv == 0 (head h reads kv
      head h // (H // Hkv)).
    pool: group size x >= 1.
    causal: group g sees the keys up to its last member; else all keys.

  Returns:
    [B, ceil(L/pool), H, D] in q's dtype.
  """
  _check_pool(pool, "pooled_query_attention")
  if q.ndim != 4 or k.shape != v.shape or k.ndim != 4 or (
      k.shape[:2] != q.shape[:2] or k.shape[3] != q.shape[3]
      or k.shape[2] == 0 or q.shape[2] % k.shape[2]):
    raise ValueError(f"pooled_query_attention: q must be [B, L, H, D] and "
                     f"k, v [B, L, Hkv, D] with H % Hkv == 0, got q "
                     f"{q.shape}, k {k.shape}, v {v.shape}")
  b, length, h, d = q.shape
  hkv = k.shape[2]
  pooled = group_means(q.astype(jnp.float32), pool)  # [B, n, H, D]
  n = pooled.shape[1]
  pooled = pooled.reshape(b, n, hkv, h // hkv, d)
  logits = jnp.einsum("bngrd,bsgd->bgrns", pooled,
                      k.astype(jnp.float32)) * d ** -0.5
  if causal:
    last = jnp.minimum(pool * (jnp.arange(n) + 1), length) - 1  # [n]
    seen = jnp.arange(length)[None, :] <= last[:, None]  # [n, L]
    logits = jnp.where(seen, logits, -jnp.inf)
  weights = jax.nn.softmax(logits, axis=-1)
  out = jnp.einsum("bgrns,bsgd->bngrd", weights, v.astype(jnp.float32))
  return out.reshape(b, n, h, d).astype(q.dtype)


class PooledAttention(nn.Module):
  """`zoo.layers.transformer.Attention`'s parameters, pooled queries."""

  num_heads: int
  num_kv_heads: int
  head_dim: int
  rope_base: float
  dtype: jnp.dtype
  pool: int
  causal: bool = False
  options: BlockOptions = BlockOptions()
  positions: PositionConfig = Rope()

  @nn.compact
  def __call__(self, x, positions):
    """x [B, L, E], positions [B, L] -> [B, ceil(L/pool), E]."""
    axes = sharding.EMBED, sharding.HEADS, sharding.KV

    def project(heads, name):
      return Projection((heads, self.head_dim), axes, dtype=self.dtype,
                        bias=self.options.qkv_bias, name=name)(x)

    q = self.positions.rotate(project(self.num_heads, "query"), positions,
                              self.rope_base)
    k = self.positions.rotate(project(self.num_kv_heads, "key"), positions,
                              self.rope_base)
    v = project(self.num_kv_heads, "value")
    heads = pooled_query_attention(q, k, v, self.pool, self.causal)
    return Projection((x.shape[-1],),
                      (sharding.HEADS, sharding.KV, sharding.EMBED),
                      contract=2, dtype=self.dtype,
                      bias=self.options.out_bias, name="out")(heads)


class PooledBlock(nn.Module):
  """pooled(x) + attn(norm(x)) with pooled queries, then x + mlp(norm(x)).

  Parameters named as `zoo.layers.transformer.Block`'s (no hooks, no
  dropout).
  """

  num_heads: int
  num_kv_heads: int
  head_dim: int
  mlp_dim: int
  rope_base: float
  dtype: jnp.dtype
  pool: int
  causal: bool = False
  options: BlockOptions = BlockOptions()
  positions: PositionConfig = Rope()

  @nn.compact
  def __call__(self, x, positions):
    """x [B, L, E], positions [B, L] -> [B, ceil(L/pool), E]."""
    norm = self.options.norm
    attn = PooledAttention(
        self.num_heads, self.num_kv_heads, self.head_dim, self.rope_base,
        self.dtype, self.pool, self.causal, self.options, self.positions,
        name="attention")(norm.make(self.dtype, "attention_norm")(x),
                          positions)
    # ours: the residual is pooled like the queries (group means).
    x = group_means(x, self.pool).astype(attn.dtype) + attn
    return x + MLP(self.mlp_dim, self.dtype, self.options.mlp, name="mlp")(
        norm.make(self.dtype, "mlp_norm")(x))
