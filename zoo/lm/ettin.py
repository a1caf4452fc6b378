"""Ettin: one ModernBERT recipe, built as an encoder or as a decoder
(Weller et al., 2025, "Seq vs Seq: An Open Suite of Paired Encoders and
Decoders"; JHU-CLSP/ettin-encoder-vs-decoder's configs read).

    x = LayerNorm(embed(tokens))                       embedding norm
    layer i:  x = x + attn_i(LN(x))      (no LN before layer 0's attention)
              x = x + GeGLU(LN(x))
    states = LayerNorm(x)                              final norm

LayerNorms have no bias; no projection has one. Layer i is global iff
i % global_every == 0, with RoPE base `global_rope_base`; the others attend
within a sliding window, |i - j| <= window // 2, with base
`local_rope_base`. The encoder and the decoder are the same module with
the same parameters: `causal` only intersects every mask with the causal
one (the decoder's local layers see j in [i - window // 2, i], the causal
half of the encoder's window). A padding mask [B, T] hides pad keys from
every query, so non-pad outputs do not depend on the padding. The logits
head is tied to the token embedding.

Ours: the decoder's local window is the causal half of the encoder's (as
FlexBERT's flash-attention window (w/2, w/2) gives under a causal mask,
[recalled]); RoPE 10k local and 160k global (ModernBERT's [recalled]); the
MLM head is the tied logits of the final-normed states (ModernBERT adds a
dense + GELU + norm head, not built).
"""

import dataclasses

import flax.linen as nn
import jax
from jax import numpy as jnp

from ops.attention import causal_mask, sliding_window_mask
from zoo import sharding
from zoo.errors import ConfigError
from zoo.layers.mlps.gated import GatedMLP
from zoo.layers.norms.layer_nobias import BiaslessLayerNorm
from zoo.layers.transformer import MLP, Attention

NORM = BiaslessLayerNorm()
GEGLU = GatedMLP(activation="gelu")


@dataclasses.dataclass(frozen=True)
class EttinConfig:
  """Attributes:

    vocab_size, embed_dim, num_layers, num_heads, mlp_dim: as
      `DecoderConfig` (mlp_dim is the GeGLU's hidden width).
    window: the local layers' window, |i - j| <= window // 2.
    global_every: layer i is global iff i % global_every == 0.
    local_rope_base, global_rope_base: RoPE bases of the two layer kinds.
    causal: the decoder (causal masks) or the encoder (bidirectional).
  """

  vocab_size: int = 2048
  embed_dim: int = 128
  num_layers: int = 4
  num_heads: int = 4
  mlp_dim: int = 192
  window: int = 32
  global_every: int = 3
  local_rope_base: float = 10_000.0
  global_rope_base: float = 160_000.0
  causal: bool = False

  def __post_init__(self):
    if self.num_layers < 1 or self.global_every < 1:
      raise ConfigError(f"EttinConfig: num_layers and global_every must be "
                        f">= 1, got {self.num_layers}, {self.global_every}")
    if self.embed_dim % self.num_heads or (self.embed_dim //
                                           self.num_heads) % 2:
      raise ConfigError(f"EttinConfig: embed_dim={self.embed_dim} must "
                        f"split into {self.num_heads} heads of even width")
    if self.window < 1:
      raise ConfigError(f"EttinConfig: window must be >= 1, got "
                        f"{self.window}")

  @property
  def head_dim(self) -> int:
    return self.embed_dim // self.num_heads

  def is_global(self, i: int) -> bool:
    return i % self.global_every == 0

  def masks(self, length: int) -> tuple[jax.Array, jax.Array]:
    """([T, T] global, [T, T] local) bool masks of this model type."""
    full = jnp.ones((length, length), jnp.bool_)
    local = sliding_window_mask(length, self.window, causal=False)
    if self.causal:
      return full & causal_mask(length), local & causal_mask(length)
    return full, local


class EttinLayer(nn.Module):
  """Pre-norm attention (norm skipped in layer 0) and GeGLU MLP."""

  config: EttinConfig
  index: int

  @nn.compact
  def __call__(self, x, positions, qq_mask):
    cfg = self.config
    base = (cfg.global_rope_base if cfg.is_global(self.index)
            else cfg.local_rope_base)
    h = x if self.index == 0 else NORM.make(jnp.float32, "attention_norm")(x)
    attention, _ = Attention(cfg.num_heads, cfg.num_heads, cfg.head_dim,
                             base, jnp.float32, name="attention")(
                                 h, positions, qq_mask)
    x = x + attention
    return x + MLP(cfg.mlp_dim, jnp.float32, GEGLU, name="mlp")(
        NORM.make(jnp.float32, "mlp_norm")(x))


class Ettin(nn.Module):
  """The encoder (`causal=False`) or decoder of the Ettin recipe."""

  config: EttinConfig

  def setup(self):
    cfg = self.config
    self.embedding = nn.Embed(
        cfg.vocab_size, cfg.embed_dim,
        embedding_init=nn.with_logical_partitioning(
            nn.initializers.normal(cfg.embed_dim ** -0.5),
            (sharding.VOCAB, sharding.EMBED)))
    self.embedding_norm = NORM.make(jnp.float32)
    self.layers = [EttinLayer(cfg, i, name=f"layer_{i}")
                   for i in range(cfg.num_layers)]
    self.final_norm = NORM.make(jnp.float32)

  def states(self, tokens, padding=None):
    """tokens [B, T], padding [B, T] bool (True: a real token; None: all)
    -> final-normed states [B, T, E]."""
    b, t = tokens.shape
    positions = jnp.broadcast_to(jnp.arange(t), (b, t))
    masks = self.config.masks(t)
    if padding is not None:
      masks = tuple(m[None] & padding[:, None, :] for m in masks)
    x = self.embedding_norm(self.embedding(tokens))
    for i, layer in enumerate(self.layers):
      x = layer(x, positions, masks[0] if self.config.is_global(i)
                else masks[1])
    return self.final_norm(x)

  def __call__(self, tokens, padding=None):
    """[B, T] ids (padding as `states`) -> [B, T, V] f32 logits."""
    return self.embedding.attend(self.states(tokens, padding)).astype(
        jnp.float32)


def build(config: EttinConfig) -> Ettin:
  return Ettin(config)
