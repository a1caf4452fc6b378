"""SambaY: a decoder-hybrid-decoder LM (Ren et al., 2025, Phi-4-mini-flash;
ArchScale's code read for the layout).

With L layers (L divisible by 4), no positional encoding (NoPE) and a
SwiGLU MLP after every mixer, each layer pre-norm residual:

    layers 0 .. L/2-1   Samba self-decoder: Mamba (even), sliding-window
                        attention (odd)
    layer  L/2          Mamba; its scan output before the z gate is the
                        memory m
    layer  L/2+1        the one full-attention layer; its KV is cached once
    layers L/2+2 ..     cross-decoder: GMU(x, m) (even), cross-attention on
                        that KV (odd)

The baseline `memory="cross_attention"` (Samba+YOCO) puts cross-attention
where the GMUs are. Only the full and cross-attention layers read a cache
that grows with the sequence; Mamba states and sliding windows are
constant. `__call__` runs the tokens through a fresh cache, so training and
decoding share one path and prefill-then-steps equals the full forward.
"""

import dataclasses

import flax.linen as nn
import flax.struct
import jax
from jax import numpy as jnp

from ops.attention import causal_mask, prefix_attention
from zoo import sharding
from zoo.errors import ConfigError
from zoo.layers.norms.rms import RMSNorm
from zoo.layers.positions.none import NoPositions
from zoo.layers.sliding import SlidingAttention, SlidingKVCache
from zoo.layers.transformer import MLP, Attention, BlockOptions, Projection
from zoo.lm.gmu import GMU
from zoo.lm.mamba import Mamba, MambaConfig
from zoo.lm.mamba import init_cache as init_mamba_cache

MEMORY_KINDS = ("gmu", "cross_attention")


@dataclasses.dataclass(frozen=True)
class SambaYConfig:
  """Attributes:

    vocab_size, embed_dim, num_layers, num_heads, num_kv_heads (0: as
      num_heads), mlp_dim: as `DecoderConfig`.
    window: keys per query of the sliding-window layers.
    mamba: the Mamba mixers' settings.
    memory: "gmu" (SambaY) or "cross_attention" (the Samba+YOCO baseline).
  """

  vocab_size: int = 256
  embed_dim: int = 64
  num_layers: int = 8
  num_heads: int = 4
  num_kv_heads: int = 0
  mlp_dim: int = 128
  window: int = 16
  mamba: MambaConfig = MambaConfig()
  memory: str = "gmu"

  def __post_init__(self):
    if self.num_layers < 4 or self.num_layers % 4:
      raise ConfigError(f"SambaYConfig: num_layers must be a positive "
                        f"multiple of 4, got {self.num_layers}")
    if self.embed_dim % self.num_heads or self.num_heads % self.kv_heads:
      raise ConfigError(f"SambaYConfig: embed_dim={self.embed_dim}, "
                        f"num_heads={self.num_heads} and num_kv_heads="
                        f"{self.num_kv_heads} do not split into heads")
    if self.window < 1:
      raise ConfigError(f"SambaYConfig: window must be >= 1, got "
                        f"{self.window}")
    if self.memory not in MEMORY_KINDS:
      raise ConfigError(f"SambaYConfig: memory must be one of "
                        f"{MEMORY_KINDS}, got {self.memory!r}")

  @property
  def kv_heads(self) -> int:
    return self.num_kv_heads or self.num_heads

  @property
  def head_dim(self) -> int:
    return self.embed_dim // self.num_heads

  def layer_kind(self, i: int) -> str:
    """"mamba", "swa", "full", "gmu" or "cross" for layer i."""
    half = self.num_layers // 2
    if i < half:
      return "mamba" if i % 2 == 0 else "swa"
    if i == half:
      return "mamba"
    if i == half + 1:
      return "full"
    if i % 2:
      return "cross"
    return "gmu" if self.memory == "gmu" else "cross"


@flax.struct.dataclass
class SambaYCache:
  """mamba: per Mamba layer (in order); swa: per sliding-window layer;
  k, v: [B, S, Hkv, Dh] the full-attention layer's; length: [B] int32."""

  mamba: tuple
  swa: tuple
  k: jax.Array
  v: jax.Array
  length: jax.Array

  @property
  def capacity(self) -> int:
    return self.k.shape[1]


def init_cache(cfg: SambaYConfig, batch: int, capacity: int) -> SambaYCache:
  kinds = [cfg.layer_kind(i) for i in range(cfg.num_layers)]
  shared = jnp.zeros((batch, capacity, cfg.kv_heads, cfg.head_dim))
  return SambaYCache(
      tuple(init_mamba_cache(cfg.mamba, cfg.embed_dim, batch)
            for k in kinds if k == "mamba"),
      tuple(SlidingKVCache.empty(batch, cfg.window, cfg.kv_heads,
                                 cfg.head_dim) for k in kinds if k == "swa"),
      shared, shared, jnp.zeros((batch,), jnp.int32))


class CrossAttention(nn.Module):
  """Queries of this layer over the full-attention layer's cached KV."""

  num_heads: int
  head_dim: int

  @nn.compact
  def __call__(self, x, k, v, prefix_len):
    q = Projection((self.num_heads, self.head_dim),
                   (sharding.EMBED, sharding.HEADS, sharding.KV),
                   name="query")(x)
    heads = prefix_attention(q, k, v, prefix_len, causal_mask(x.shape[1]))
    return Projection((x.shape[-1],),
                      (sharding.HEADS, sharding.KV, sharding.EMBED),
                      contract=2, name="out")(heads)


class SambaY(nn.Module):
  config: SambaYConfig

  def setup(self):
    cfg = self.config
    self.embedding = nn.Embed(
        cfg.vocab_size, cfg.embed_dim,
        embedding_init=nn.with_logical_partitioning(
            nn.initializers.normal(cfg.embed_dim ** -0.5),
            (sharding.VOCAB, sharding.EMBED)))
    mixers = []
    for i in range(cfg.num_layers):
      kind, name = cfg.layer_kind(i), f"layer_{i}"
      if kind == "mamba":
        mixers.append(Mamba(cfg.mamba, name=name))
      elif kind == "swa":
        mixers.append(SlidingAttention(cfg.num_heads, cfg.kv_heads,
                                       cfg.head_dim, cfg.window, name=name))
      elif kind == "full":
        mixers.append(Attention(cfg.num_heads, cfg.kv_heads, cfg.head_dim,
                                0.0, jnp.float32, BlockOptions(),
                                NoPositions(), name=name))
      elif kind == "gmu":
        mixers.append(GMU(name=name))
      else:
        mixers.append(CrossAttention(cfg.num_heads, cfg.head_dim, name=name))
    self.mixers = mixers
    self.mixer_norms = [RMSNorm().make(jnp.float32, f"mixer_norm_{i}")
                        for i in range(cfg.num_layers)]
    self.mlp_norms = [RMSNorm().make(jnp.float32, f"mlp_norm_{i}")
                      for i in range(cfg.num_layers)]
    self.mlps = [MLP(cfg.mlp_dim, jnp.float32, name=f"mlp_{i}")
                 for i in range(cfg.num_layers)]
    self.final_norm = RMSNorm().make(jnp.float32, "final_norm")

  def __call__(self, tokens):
    """[B, T] ids -> [B, T, V] f32 logits (a fresh cache of capacity T)."""
    cache = init_cache(self.config, tokens.shape[0], tokens.shape[1])
    return self.extend(tokens, cache)[0]

  def extend(self, tokens, cache: SambaYCache):
    """New tokens [B, T] after the cached ones -> ([B, T, V], cache)."""
    cfg = self.config
    t = tokens.shape[1]
    positions = cache.length[:, None] + jnp.arange(t)
    x = self.embedding(tokens)
    mamba_caches, swa_caches = list(cache.mamba), list(cache.swa)
    k, v, memory = cache.k, cache.v, None
    for i in range(cfg.num_layers):
      kind, h = cfg.layer_kind(i), self.mixer_norms[i](x)
      if kind == "mamba":
        j = sum(cfg.layer_kind(n) == "mamba" for n in range(i))
        h, memory, mamba_caches[j] = self.mixers[i](h, mamba_caches[j])
      elif kind == "swa":
        j = sum(cfg.layer_kind(n) == "swa" for n in range(i))
        h, swa_caches[j] = self.mixers[i](h, positions, swa_caches[j])
      elif kind == "full":
        h, (k, v) = self.mixers[i](h, positions, causal_mask(t), (k, v),
                                   cache.length)
      elif kind == "gmu":
        h = self.mixers[i](h, memory)
      else:
        h = self.mixers[i](h, k, v, cache.length)
      x = x + h
      x = x + self.mlps[i](self.mlp_norms[i](x))
    logits = self.embedding.attend(self.final_norm(x)).astype(jnp.float32)
    return logits, SambaYCache(tuple(mamba_caches), tuple(swa_caches), k, v,
                               cache.length + t)


def build(config: SambaYConfig) -> SambaY:
  return SambaY(config)
