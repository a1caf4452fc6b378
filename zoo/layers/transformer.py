"""A pre-norm transformer block (RMSNorm, RoPE attention, SwiGLU MLP).

The attention runs through `ops.prefix_attention`, so one block serves
training (all tokens new, causal or bidirectional mask) and cached decoding
(a few new tokens over a KV cache under any query-to-query mask).
"""

import flax.linen as nn
from jax import numpy as jnp

from ops.attention import prefix_attention, write_rows
from zoo import sharding
from zoo.layers.rope import apply_rope


class Projection(nn.Module):
  """x [..., *in] @ kernel [*in, *out] with logically named kernel axes.

  (`nn.DenseGeneral` initialises a flattened 2-D kernel, which its logical
  axis names cannot describe.)
  """

  features: tuple[int, ...]
  axes: tuple[str, ...]
  contract: int = 1  # trailing input axes to contract
  dtype: jnp.dtype = jnp.float32

  @nn.compact
  def __call__(self, x):
    in_shape = x.shape[x.ndim - self.contract:]
    fan_in = 1
    for n in in_shape:
      fan_in *= n
    kernel = self.param(
        "kernel", nn.with_logical_partitioning(
            nn.initializers.normal(fan_in ** -0.5), self.axes),
        (*in_shape, *self.features), jnp.float32)
    return jnp.tensordot(x.astype(self.dtype), kernel.astype(self.dtype),
                         axes=self.contract)


def _dense(features, axes, dtype, name):
  features = features if isinstance(features, tuple) else (features,)
  return Projection(features, axes, dtype=dtype, name=name)


class Attention(nn.Module):
  """Multi-head (grouped-query) self-attention over new tokens and a cache."""

  num_heads: int
  num_kv_heads: int
  head_dim: int
  rope_base: float
  dtype: jnp.dtype

  @nn.compact
  def __call__(self, x, positions, qq_mask, kv=None, prefix_len=None):
    """Args:

      x: [B, T, E] new tokens.
      positions: [B, T] their positions (RoPE).
      qq_mask: [T, T] or [B, T, T] bool, new token i sees new token j.
      kv: optional (k, v) cache [B, S, Hkv, Dh]; None attends to x alone.
      prefix_len: [B] cached tokens before x (with kv).

    Returns:
      ([B, T, E], updated (k, v) or None).
    """
    emb = sharding.EMBED, sharding.HEADS, sharding.KV
    q = _dense((self.num_heads, self.head_dim), emb, self.dtype, "query")(x)
    k = _dense((self.num_kv_heads, self.head_dim), emb, self.dtype, "key")(x)
    v = _dense((self.num_kv_heads, self.head_dim), emb, self.dtype, "value")(x)
    q = apply_rope(q, positions, self.rope_base)
    k = apply_rope(k, positions, self.rope_base)
    if kv is None:
      prefix_len = jnp.zeros((x.shape[0],), jnp.int32)
      new_kv = None
    else:
      k = write_rows(kv[0], k, prefix_len)
      v = write_rows(kv[1], v, prefix_len)
      new_kv = (k, v)
    out = prefix_attention(q, k.astype(q.dtype), v.astype(q.dtype),
                           prefix_len, qq_mask)
    out = Projection((x.shape[-1],),
                     (sharding.HEADS, sharding.KV, sharding.EMBED),
                     contract=2, dtype=self.dtype, name="out")(out)
    return out, new_kv


class MLP(nn.Module):
  """SwiGLU feed-forward layer."""

  hidden: int
  dtype: jnp.dtype

  @nn.compact
  def __call__(self, x):
    gate = _dense(self.hidden, (sharding.EMBED, sharding.MLP), self.dtype,
                  "gate")(x)
    up = _dense(self.hidden, (sharding.EMBED, sharding.MLP), self.dtype,
                "up")(x)
    return _dense(x.shape[-1], (sharding.MLP, sharding.EMBED), self.dtype,
                  "down")(nn.silu(gate) * up)


class Block(nn.Module):
  """x + attn(norm(x)), then x + mlp(norm(x))."""

  num_heads: int
  num_kv_heads: int
  head_dim: int
  mlp_dim: int
  rope_base: float
  dtype: jnp.dtype

  @nn.compact
  def __call__(self, x, positions, qq_mask, kv=None, prefix_len=None):
    attn, new_kv = Attention(
        self.num_heads, self.num_kv_heads, self.head_dim, self.rope_base,
        self.dtype, name="attention")(
            nn.RMSNorm(dtype=self.dtype, name="attention_norm")(x),
            positions, qq_mask, kv, prefix_len)
    x = x + attn
    x = x + MLP(self.mlp_dim, self.dtype, name="mlp")(
        nn.RMSNorm(dtype=self.dtype, name="mlp_norm")(x))
    x = nn.with_logical_constraint(
        x, (sharding.BATCH, sharding.LENGTH, sharding.EMBED))
    return x, new_kv
