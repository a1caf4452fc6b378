"""A pre-norm transformer block (RMSNorm, RoPE attention, SwiGLU MLP).

The attention runs through `ops.prefix_attention`, so one block serves
training (all tokens new, causal or bidirectional mask) and cached decoding
(a few new tokens over a KV cache under any query-to-query mask).

`BlockOptions` builds the other pre-norm blocks of the checkpoint families
the zoo loads (`zoo.lm.checkpoints`): its norm (`zoo.layers.norms`) and MLP
(`zoo.layers.mlps`) are plug-in kinds, with biased projections where a
family has them (Qwen2's query/key/value, GPT-2's everywhere); the position
kind (`zoo.layers.positions`) rotates queries and keys, or not. The
defaults are the zoo's own block.
"""

import dataclasses

import flax.linen as nn
from jax import numpy as jnp

from ops.attention import prefix_attention, write_rows
from zoo import sharding
from zoo.layers.hook_point import HookPoint
from zoo.layers.hooks import HookConfig, NoHooks
from zoo.layers.mlps import MLPConfig
from zoo.layers.mlps.gated import GatedMLP
from zoo.layers.norms import NormConfig
from zoo.layers.norms.rms import RMSNorm
from zoo.layers.positions import PositionConfig
from zoo.layers.positions.rope import Rope


@dataclasses.dataclass(frozen=True)
class BlockOptions:
  """How a block's parts are built; the defaults are the zoo's decoder.

  Attributes:
    norm: the norm kind of both sublayers (and the decoder's final norm).
    mlp: the feed-forward kind, with its activation and biases.
    qkv_bias: biases on the query, key and value projections.
    out_bias: a bias on the attention's output projection.
    hooks: modules spliced in at the head outputs and the MLP output
      (`zoo.layers.hooks`); none by default.
  """

  norm: NormConfig = RMSNorm()
  mlp: MLPConfig = GatedMLP()
  qkv_bias: bool = False
  out_bias: bool = False
  hooks: HookConfig = NoHooks()


class Projection(nn.Module):
  """x [..., *in] @ kernel [*in, *out] with logically named kernel axes.

  (`nn.DenseGeneral` initialises a flattened 2-D kernel, which its logical
  axis names cannot describe.)
  """

  features: tuple[int, ...]
  axes: tuple[str, ...]
  contract: int = 1  # trailing input axes to contract
  dtype: jnp.dtype = jnp.float32
  bias: bool = False  # [*out], named by the output axes

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
    y = jnp.tensordot(x.astype(self.dtype), kernel.astype(self.dtype),
                      axes=self.contract)
    if not self.bias:
      return y
    bias = self.param(
        "bias", nn.with_logical_partitioning(
            nn.initializers.zeros_init(), self.axes[self.contract:]),
        self.features, jnp.float32)
    return y + bias.astype(self.dtype)


def _dense(features, axes, dtype, name, bias=False):
  features = features if isinstance(features, tuple) else (features,)
  return Projection(features, axes, dtype=dtype, bias=bias, name=name)


class Attention(nn.Module):
  """Multi-head (grouped-query) self-attention over new tokens and a cache."""

  num_heads: int
  num_kv_heads: int
  head_dim: int
  rope_base: float
  dtype: jnp.dtype
  options: BlockOptions = BlockOptions()
  positions: PositionConfig = Rope()

  @nn.compact
  def __call__(self, x, positions, qq_mask, kv=None, prefix_len=None):
    """Args:

      x: [B, T, E] new tokens.
      positions: [B, T] their positions (rotary kinds).
      qq_mask: [T, T] or [B, T, T] bool, new token i sees new token j.
      kv: optional (k, v) cache [B, S, Hkv, Dh]; None attends to x alone.
      prefix_len: [B] cached tokens before x (with kv).

    Returns:
      ([B, T, E], updated (k, v) or None).
    """
    emb = sharding.EMBED, sharding.HEADS, sharding.KV
    qkv = lambda heads, name: _dense((heads, self.head_dim), emb, self.dtype,
                                     name, self.options.qkv_bias)(x)
    q = qkv(self.num_heads, "query")
    k = qkv(self.num_kv_heads, "key")
    v = qkv(self.num_kv_heads, "value")
    q = self.positions.rotate(q, positions, self.rope_base)
    k = self.positions.rotate(k, positions, self.rope_base)
    if kv is None:
      prefix_len = jnp.zeros((x.shape[0],), jnp.int32)
      new_kv = None
    else:
      k = write_rows(kv[0], k, prefix_len)
      v = write_rows(kv[1], v, prefix_len)
      new_kv = (k, v)
    heads = prefix_attention(q, k.astype(q.dtype), v.astype(q.dtype),
                             prefix_len, qq_mask)  # [B, T, H, Dh]
    heads = self.options.hooks.apply("attn_preproj", heads,
                                     "attn_preproj_hook")
    heads = HookPoint(name="z")(heads)
    out = Projection((x.shape[-1],),
                     (sharding.HEADS, sharding.KV, sharding.EMBED),
                     contract=2, dtype=self.dtype, bias=self.options.out_bias,
                     name="out")(heads)
    return out, new_kv


class MLP(nn.Module):
  """Feed-forward layer of a `zoo.layers.mlps` kind (SwiGLU by default)."""

  hidden: int
  dtype: jnp.dtype
  kind: MLPConfig = GatedMLP()

  @nn.compact
  def __call__(self, x):
    project = lambda name: _dense(self.hidden, (sharding.EMBED, sharding.MLP),
                                  self.dtype, name, self.kind.bias)(x)
    h = self.kind.hidden(project)  # [..., hidden]
    return _dense(x.shape[-1], (sharding.MLP, sharding.EMBED), self.dtype,
                  "down", self.kind.bias)(h)


class Block(nn.Module):
  """x + attn(norm(x)), then x + mlp(norm(x)); mlp_dim 0 drops the MLP
  (an attention-only block).

  Named `HookPoint`s expose the residual stream before, between and after
  the sublayers ("resid_pre", "resid_mid", "resid_post"), each sublayer's
  output ("attn_out", "mlp_out") and the attention's per-head outputs
  ("attention/z").
  """

  num_heads: int
  num_kv_heads: int
  head_dim: int
  mlp_dim: int
  rope_base: float
  dtype: jnp.dtype
  options: BlockOptions = BlockOptions()
  positions: PositionConfig = Rope()
  dropout: float = 0.0  # on both sublayers' outputs, when not deterministic

  @nn.compact
  def __call__(self, x, positions, qq_mask, kv=None, prefix_len=None,
               deterministic=True):
    norm = self.options.norm
    drop = lambda y: y if self.dropout == 0 else nn.Dropout(self.dropout)(
        y, deterministic)
    x = HookPoint(name="resid_pre")(x)
    attn, new_kv = Attention(
        self.num_heads, self.num_kv_heads, self.head_dim, self.rope_base,
        self.dtype, self.options, self.positions, name="attention")(
            norm.make(self.dtype, "attention_norm")(x),
            positions, qq_mask, kv, prefix_len)
    x = x + drop(HookPoint(name="attn_out")(attn))
    x = HookPoint(name="resid_mid")(x)
    if self.mlp_dim:
      mlp = MLP(self.mlp_dim, self.dtype, self.options.mlp, name="mlp")(
          norm.make(self.dtype, "mlp_norm")(x))
      mlp = self.options.hooks.apply("mlp", mlp[..., None, :],
                                     "mlp_hook")[..., 0, :]
      x = x + drop(HookPoint(name="mlp_out")(mlp))
    x = nn.with_logical_constraint(
        x, (sharding.BATCH, sharding.LENGTH, sharding.EMBED))
    return HookPoint(name="resid_post")(x), new_kv
