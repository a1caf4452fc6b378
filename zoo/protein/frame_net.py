"""A frame network: blocks of frame attention that refine residue frames.

`FrameNet` takes residue frames only (rotations [B, L, 3, 3], CA positions
[B, L, 3] in nm) and a mask [B, L]; the single features start from one
learned vector, the pair features from the clipped sequence offset j - i.
Each `FrameBlock` runs (VFN-Diff's trunk, without the sequence transformer):
frame attention (a plug-in kind: `vfn` or `ipa_lite`) -> residual + LN ->
transition + LN -> backbone update (quaternion + translation, composed on
the right of the frames) -> edge transition (pair features updated from
s_i, s_j and the attention's pair features, when it gives any). Heads: the
final frames (the denoiser) and per-residue class logits (H/E/C).

Node outputs and logits are invariant to a global rigid transform of the
input frames; output frames are equivariant, f(G T) = G f(T). Masked
residues neither attend nor are attended to; their outputs are undefined.
"""

import dataclasses
from typing import NamedTuple

import flax.linen as nn
import jax
from jax import numpy as jnp

from zoo.protein import rigid
from zoo.protein.attention import FrameAttentionConfig, dense
from zoo.protein.attention.vfn import VFNAttentionConfig


@dataclasses.dataclass(frozen=True)
class FrameNetConfig:
  """Attributes:

    attention: the frame-attention kind and its sizes.
    single_dim: width of the single features s.
    pair_dim: width of the pair features z.
    num_blocks: blocks, each with its own parameters.
    num_classes: per-residue classes of the label head (H, E, C).
    max_offset: sequence offsets j - i are clipped to +-max_offset.
    transition_factor: hidden width of the transitions / single_dim.
  """

  attention: FrameAttentionConfig = VFNAttentionConfig()
  single_dim: int = 32
  pair_dim: int = 16
  num_blocks: int = 2
  num_classes: int = 3
  max_offset: int = 8
  transition_factor: int = 2

  def __post_init__(self):
    for name in ("single_dim", "pair_dim", "num_blocks", "num_classes",
                 "max_offset", "transition_factor"):
      if getattr(self, name) < 1:
        raise ValueError(f"FrameNetConfig: {name} must be >= 1, got "
                         f"{getattr(self, name)}")


class FrameNetOutput(NamedTuple):
  """single [B, L, c_s]; frames [B, L] (nm); logits [B, L, classes];
  attention: weights of every block [blocks, B, H, L, L]."""

  single: jax.Array
  frames: rigid.Rigid
  logits: jax.Array
  attention: jax.Array


class FrameBlock(nn.Module):
  """(s, z, frames, mask) -> (s, z, frames, attention weights)."""

  cfg: FrameNetConfig

  @nn.compact
  def __call__(self, s, z, frames: rigid.Rigid, mask):
    cfg = self.cfg
    hidden = cfg.single_dim * cfg.transition_factor
    update, pair_features, weights = cfg.attention.module(
        cfg.single_dim, "attention")(s, z, frames, mask)
    s = nn.LayerNorm(name="attention_norm")(s + update)
    transition = dense(cfg.single_dim, "transition_out")(
        nn.relu(dense(hidden, "transition_in")(s)))
    s = nn.LayerNorm(name="transition_norm")(s + transition)
    frames = rigid.quaternion_update(
        frames, dense(6, "backbone_update", zero=True)(s))
    s_pair = dense(cfg.pair_dim, "edge_single")(s)
    edge = (dense(cfg.pair_dim, "edge_pair")(z) + s_pair[:, :, None]
            + s_pair[:, None, :])
    if pair_features is not None:  # the kind's own pair features (VFN's g)
      edge = edge + dense(cfg.pair_dim, "edge_features")(pair_features)
    z = nn.LayerNorm(name="edge_norm")(
        z + dense(cfg.pair_dim, "edge_out")(nn.relu(edge)))
    return s, z, frames, weights


class FrameNet(nn.Module):
  """rot [B, L, 3, 3], trans [B, L, 3] (nm), mask [B, L] -> FrameNetOutput."""

  cfg: FrameNetConfig

  @nn.compact
  def __call__(self, rot, trans, mask) -> FrameNetOutput:
    cfg = self.cfg
    rigid.check_rotations(rot, "rot")
    if trans.shape != rot.shape[:-1] or mask.shape != rot.shape[:-2]:
      raise ValueError(f"FrameNet: rot [B, L, 3, 3], trans [B, L, 3] and "
                       f"mask [B, L] must agree, got {rot.shape}, "
                       f"{trans.shape}, {mask.shape}")
    b, length = mask.shape
    frames = rigid.Rigid(rot, trans)
    start = self.param("single_start", nn.initializers.normal(1.0),
                       (cfg.single_dim,))
    s = jnp.broadcast_to(start, (b, length, cfg.single_dim))
    offsets = jnp.arange(length)[None, :] - jnp.arange(length)[:, None]
    offsets = jnp.clip(offsets, -cfg.max_offset, cfg.max_offset)
    z = nn.Embed(2 * cfg.max_offset + 1, cfg.pair_dim, name="offset_embed")(
        offsets + cfg.max_offset)
    z = jnp.broadcast_to(z, (b, length, length, cfg.pair_dim))
    weights = []
    for i in range(cfg.num_blocks):
      s, z, frames, w = FrameBlock(cfg, name=f"block_{i}")(s, z, frames, mask)
      weights.append(w)
    logits = dense(cfg.num_classes, "class_head")(s)
    return FrameNetOutput(s, frames, logits, jnp.stack(weights))


def build(cfg: FrameNetConfig) -> FrameNet:
  return FrameNet(cfg)
