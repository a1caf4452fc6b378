"""A Vision Transformer: image patches and a stack of the zoo's blocks.

`patchify` cuts images [B, H, W, C] into non-overlapping p x p patches,
row-major, each flattened (row, column, channel) to [B, H W / p^2, p^2 C];
`ViT` embeds them linearly, adds a learned position per patch and runs
`TransformerStack`: pre-norm `zoo.layers.transformer.Block`s as ViT has
them (LayerNorm, a GELU MLP, biased projections, no rotary positions,
bidirectional attention) and a final LayerNorm. The stack alone serves
models whose tokens are not patches (`zoo.arch.vec2face`).
"""

import dataclasses

import flax.linen as nn
import jax
from jax import numpy as jnp

from zoo import sharding
from zoo.layers.mlps.plain import PlainMLP
from zoo.layers.norms.layer import LayerNorm
from zoo.layers.positions import PositionConfig
from zoo.layers.transformer import Block, BlockOptions

VIT_BLOCK = BlockOptions(norm=LayerNorm(eps=1e-6),
                         mlp=PlainMLP(activation="gelu"), qkv_bias=True,
                         out_bias=True)


def patchify(images: jax.Array, patch: int) -> jax.Array:
  """[B, H, W, C] -> [B, (H / p) (W / p), p p C] patches, row-major.

  Raises:
    ValueError: images are not 4-D, or H or W is not divisible by `patch`.
  """
  if images.ndim != 4:
    raise ValueError(f"patchify: images must be [B, H, W, C], got shape "
                     f"{images.shape}")
  b, h, w, c = images.shape
  if patch < 1 or h % patch or w % patch:
    raise ValueError(f"patchify: image size {h}x{w} is not divisible by the "
                     f"patch size {patch}")
  x = images.reshape(b, h // patch, patch, w // patch, patch, c)
  return x.transpose(0, 1, 3, 2, 4, 5).reshape(b, -1, patch * patch * c)


def position_table(module: nn.Module, name: str, rows: int, dim: int):
  """A learned [rows, dim] table of `module` (BERT's and ViT's, N(0, 0.02))."""
  return module.param(name, nn.with_logical_partitioning(
      nn.initializers.normal(0.02), (None, sharding.EMBED)), (rows, dim))


class TransformerStack(nn.Module):
  """[B, T, E] tokens -> [B, T, E]: `num_layers` ViT blocks, LayerNorm.

  Attention is bidirectional and position-free: the stack is permutation
  equivariant, so callers add positions to the tokens.
  """

  num_layers: int
  num_heads: int
  mlp_dim: int

  @nn.compact
  def __call__(self, x):
    b, t, dim = x.shape
    if dim % self.num_heads:
      raise ValueError(f"TransformerStack: width {dim} is not divisible by "
                       f"{self.num_heads} heads")
    positions = jnp.broadcast_to(jnp.arange(t), (b, t))  # unused: no rope
    everything = jnp.ones((t, t), jnp.bool_)
    for i in range(self.num_layers):
      x, _ = Block(self.num_heads, self.num_heads, dim // self.num_heads,
                   self.mlp_dim, 10_000.0, jnp.float32, VIT_BLOCK,
                   PositionConfig(), name=f"block_{i}")(x, positions,
                                                        everything)
    return VIT_BLOCK.norm.make(jnp.float32, "final_norm")(x)


@dataclasses.dataclass(frozen=True)
class ViTConfig:
  """Attributes:

    image_size: input side (square images).
    patch: patch side; divides image_size.
    channels: input channels.
    dim, num_layers, num_heads, mlp_dim: the transformer's sizes.
  """

  image_size: int = 28
  patch: int = 4
  channels: int = 1
  dim: int = 64
  num_layers: int = 2
  num_heads: int = 4
  mlp_dim: int = 128

  def __post_init__(self):
    if self.patch < 1 or self.image_size % self.patch:
      raise ValueError(f"vit: image size {self.image_size} is not divisible "
                       f"by the patch size {self.patch}")
    if self.dim % self.num_heads:
      raise ValueError(f"vit: dim {self.dim} is not divisible by "
                       f"{self.num_heads} heads")

  @property
  def num_patches(self) -> int:
    return (self.image_size // self.patch)**2


class ViT(nn.Module):
  """[B, H, W, C] images -> [B, N, dim] patch tokens."""

  cfg: ViTConfig

  @nn.compact
  def __call__(self, images):
    cfg = self.cfg
    if images.shape[1:] != (cfg.image_size, cfg.image_size, cfg.channels):
      raise ValueError(f"vit: images must be [B, {cfg.image_size}, "
                       f"{cfg.image_size}, {cfg.channels}], got shape "
                       f"{images.shape}")
    x = nn.Dense(cfg.dim, name="patch_embed")(patchify(images, cfg.patch))
    x = x + position_table(self, "positions", cfg.num_patches, cfg.dim)
    return TransformerStack(cfg.num_layers, cfg.num_heads, cfg.mlp_dim,
                            name="encoder")(x)
