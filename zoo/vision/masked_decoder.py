"""Mask2Former-style parts for query-based segmentation (X-Decoder).

* `PixelEncoder`: a strided conv encoder and an FPN pixel decoder, image
  [B, H, W, 3] -> per-pixel embeddings [B, H/2, W/2, D] (the masks' and
  the cross-attention's memory).
* `masked_attention`: cross-attention in which each query sees only the
  pixels its mask allows.
* `DecoderLayer`: masked cross-attention, then self-attention under a
  query-to-query mask and an FFN (a zoo `Block`).
* `PredictionHead`: a query's mask logits, <mask_embed(q), pixel_emb>, and
  its class embedding in the joint (text) space.
"""

import flax.linen as nn
import jax
from jax import numpy as jnp

from zoo import sharding
from zoo.layers.positions import PositionConfig
from zoo.layers.transformer import Block, Projection


def resize(x: jax.Array, height: int, width: int) -> jax.Array:
  """[B, h, w, C] -> [B, height, width, C], bilinear."""
  return jax.image.resize(x, (x.shape[0], height, width, x.shape[-1]),
                          "bilinear")


class ConvStage(nn.Module):
  """[B, H, W, C] -> [B, H/2, W/2, width]: a strided conv, a conv, both
  GroupNorm + GELU, with a residual around the second."""

  width: int
  groups: int = 8

  @nn.compact
  def __call__(self, x):
    y = nn.Conv(self.width, (3, 3), strides=2, padding="SAME")(x)
    y = nn.gelu(nn.GroupNorm(self.groups)(y))
    z = nn.GroupNorm(self.groups)(nn.Conv(self.width, (3, 3),
                                          padding="SAME")(y))
    return nn.gelu(y + z)


class PixelEncoder(nn.Module):
  """Image [B, H, W, C] -> pixel embeddings [B, H/2, W/2, dim].

  The encoder's stages halve the resolution each; the pixel decoder (an
  FPN) adds each shallower stage's 1x1 projection to the upsampled deeper
  map, from the deepest up to the first stage's resolution, then GELU and
  a 1x1 projection.
  """

  widths: tuple[int, ...]
  dim: int

  @nn.compact
  def __call__(self, image):
    features, x = [], image
    for width in self.widths:
      x = ConvStage(width)(x)
      features.append(x)
    y = nn.Conv(self.dim, (1, 1), name="lateral_deepest")(features[-1])
    for k in reversed(range(len(features) - 1)):
      lateral = nn.Conv(self.dim, (1, 1), name=f"lateral_{k}")(features[k])
      y = lateral + resize(y, *lateral.shape[1:3])
    return nn.Conv(self.dim, (1, 1), name="pixel_embedding")(nn.gelu(y))


def masked_attention(q: jax.Array, k: jax.Array, v: jax.Array,
                     visible: jax.Array) -> jax.Array:
  """Multi-head attention of queries over keys under a per-query mask.

  Args:
    q: [B, Q, H, Dh] queries.
    k, v: [B, N, H, Dh] keys and values (the pixels).
    visible: [B, Q, N] bool, query q sees key n. A query that sees no key
      sees every key (Mask2Former's rule for an empty mask).

  Returns:
    [B, Q, H, Dh]; keys outside a query's mask take no part in its output.
  """
  empty = ~jnp.any(visible, axis=-1, keepdims=True)
  visible = visible | empty
  return jax.nn.dot_product_attention(q, k, v, mask=visible[:, None])


class MaskedCrossAttention(nn.Module):
  """x [B, Q, D] attends to memory [B, N, D] (+ positions [N, D] on the
  keys), each query within its mask [B, Q, N]; returns [B, Q, D]."""

  num_heads: int

  @nn.compact
  def __call__(self, x, memory, positions, visible):
    dim = x.shape[-1]
    shape = (self.num_heads, dim // self.num_heads)
    axes = (sharding.EMBED, sharding.HEADS, sharding.KV)
    q = Projection(shape, axes, name="query")(x)
    k = Projection(shape, axes, name="key")(memory + positions)
    v = Projection(shape, axes, name="value")(memory)
    heads = masked_attention(q, k, v, visible)
    return Projection((dim,), (sharding.HEADS, sharding.KV, sharding.EMBED),
                      contract=2, name="out")(heads)


class DecoderLayer(nn.Module):
  """Queries [B, Q, D] -> [B, Q, D]: x + cross(norm(x)) within the masks,
  then x + self(norm(x)) under `qq_mask` [Q, Q] and x + ffn(norm(x))."""

  num_heads: int
  mlp_dim: int

  @nn.compact
  def __call__(self, x, memory, positions, visible, qq_mask):
    x = x + MaskedCrossAttention(self.num_heads, name="cross")(
        nn.RMSNorm(name="cross_norm")(x), memory, positions, visible)
    dim = x.shape[-1]
    # Queries form a set: no rotary positions (the base kind rotates none).
    x, _ = Block(self.num_heads, self.num_heads, dim // self.num_heads,
                 self.mlp_dim, 10_000.0, jnp.float32,
                 positions=PositionConfig(), name="self")(
                     x, jnp.zeros(x.shape[:2], jnp.int32), qq_mask)
    return x


class PredictionHead(nn.Module):
  """Queries [B, Q, D] and pixel embeddings [B, h, w, D] -> mask logits
  [B, Q, h, w], mask embeddings [B, Q, D] and class embeddings [B, Q, E]
  (in the text's joint space, not normalised)."""

  joint_dim: int

  @nn.compact
  def __call__(self, queries, pixels):
    x = nn.RMSNorm(name="norm")(queries)
    dim = x.shape[-1]
    embedding = nn.Dense(dim, name="mask_mlp_out")(
        nn.relu(nn.Dense(dim, name="mask_mlp_in")(x)))
    masks = jnp.einsum("bqd,bhwd->bqhw", embedding, pixels)
    return masks, embedding, nn.Dense(self.joint_dim, name="class_embed")(x)
