"""An encoder-decoder small LM (Mu): a bidirectional encoder reads the
source once; a causal decoder attends to itself and, by cross-attention, to
the encoder's fixed final states.

    model = EncDecLM(EncDecConfig(vocab_size=14))
    logits = model.apply(variables, source, target[:, :-1])     # training
    lm = EncodedLM.for_source(variables["params"], model, source)
    out = ops.decoding.sampling.generate(lm, bos, 5)               # decoding

Both stacks are the zoo's pre-norm RoPE/GQA blocks (`zoo.layers.
transformer`); the decoder's cross-attention sits between its
self-attention and its MLP. `EncodedLM` encodes the source exactly once and
projects each decoder layer's cross-attention keys and values then; its
cache is the decoder's own `KVCache`, so it grows with the output only and
`ops.decoding` samplers run on it unchanged.

ours: one token embedding shared by encoder and decoder and tied to the
head; no rotary positions in cross-attention (the T5/BART convention);
sources are unpadded (digit_frequency's are all 64 long); cross-attention
is `jax.nn.dot_product_attention` over the projected memory (no cache
slots or masks to carry); the encoder holds 61%, not exactly 2/3, of the
4+2-layer model's parameters (each decoder layer adds cross-attention).
"""

import dataclasses

import flax.linen as nn
import flax.struct
import jax
from jax import numpy as jnp

from ops.attention import causal_mask
from zoo.errors import ConfigError
from zoo.layers.norms.rms import RMSNorm
from zoo.layers.transformer import MLP, Attention, Block, Projection
from zoo.lm.decoder import KVCache


@dataclasses.dataclass(frozen=True)
class EncDecConfig:
  """Attributes:

    vocab_size: token ids (source and target share them).
    embed_dim: residual width of both stacks.
    encoder_layers, decoder_layers: blocks per stack (>= 1 each).
    num_heads, num_kv_heads: query and key/value heads (GQA).
    mlp_dim: SwiGLU hidden width.
    rope_base: rotary base of the self-attention.
  """

  vocab_size: int = 14
  embed_dim: int = 96
  encoder_layers: int = 4
  decoder_layers: int = 2
  num_heads: int = 4
  num_kv_heads: int = 2
  mlp_dim: int = 256
  rope_base: float = 10_000.0

  def __post_init__(self):
    if self.encoder_layers < 1 or self.decoder_layers < 1:
      raise ConfigError(f"EncDecConfig: needs at least one encoder and one "
                        f"decoder layer, got {self.encoder_layers} and "
                        f"{self.decoder_layers}")
    if (self.embed_dim % self.num_heads or self.head_dim % 2
        or self.num_kv_heads < 1 or self.num_heads % self.num_kv_heads):
      raise ConfigError(f"EncDecConfig: embed_dim={self.embed_dim} must "
                        f"split into {self.num_heads} heads of even width, "
                        f"grouped over num_kv_heads={self.num_kv_heads}")

  @property
  def head_dim(self) -> int:
    return self.embed_dim // self.num_heads


class CrossAttention(nn.Module):
  """Queries from the decoder; keys and values from the encoder states,
  projected once per source (`memory`)."""

  num_heads: int
  num_kv_heads: int
  head_dim: int

  def setup(self):
    dense = lambda heads: nn.DenseGeneral((heads, self.head_dim),
                                          use_bias=False)
    self.query = dense(self.num_heads)
    self.key = dense(self.num_kv_heads)
    self.value = dense(self.num_kv_heads)
    self.out = Projection((self.num_heads * self.head_dim,),
                          (None, None, None), contract=2)

  def memory(self, states):
    """[B, S, E] encoder states -> (k, v), each [B, S, Hkv, Dh]."""
    return self.key(states), self.value(states)

  def __call__(self, x, memory):
    """x [B, T, E] over memory (k, v) -> [B, T, E]."""
    k, v = memory
    return self.out(jax.nn.dot_product_attention(self.query(x), k, v))


class DecoderBlock(nn.Module):
  """x + self_attn(norm x), then x + cross_attn(norm x), then
  x + mlp(norm x)."""

  config: EncDecConfig

  def setup(self):
    cfg = self.config
    norm = lambda: RMSNorm().make(jnp.float32)
    self.attention_norm, self.cross_norm, self.mlp_norm = (
        norm(), norm(), norm())
    self.attention = Attention(cfg.num_heads, cfg.num_kv_heads, cfg.head_dim,
                               cfg.rope_base, jnp.float32)
    self.cross = CrossAttention(cfg.num_heads, cfg.num_kv_heads, cfg.head_dim)
    self.mlp = MLP(cfg.mlp_dim, jnp.float32)

  def memory(self, states):
    return self.cross.memory(states)

  def __call__(self, x, positions, qq_mask, memory, kv=None, prefix_len=None):
    """x [B, T, E] -> ([B, T, E], updated self-attention (k, v) or None)."""
    attn, new_kv = self.attention(self.attention_norm(x), positions, qq_mask,
                                  kv, prefix_len)
    x = x + attn
    x = x + self.cross(self.cross_norm(x), memory)
    return x + self.mlp(self.mlp_norm(x)), new_kv


class EncDecLM(nn.Module):
  """Shared token embedding, encoder blocks, decoder blocks, tied head."""

  config: EncDecConfig

  def setup(self):
    cfg = self.config
    self.embedding = nn.Embed(
        cfg.vocab_size, cfg.embed_dim,
        embedding_init=nn.initializers.normal(cfg.embed_dim ** -0.5))
    self.encoder = [Block(cfg.num_heads, cfg.num_kv_heads, cfg.head_dim,
                          cfg.mlp_dim, cfg.rope_base, jnp.float32)
                    for _ in range(cfg.encoder_layers)]
    self.encoder_norm = RMSNorm().make(jnp.float32)
    self.decoder = [DecoderBlock(cfg) for _ in range(cfg.decoder_layers)]
    self.final_norm = RMSNorm().make(jnp.float32)

  def encode(self, source):
    """[B, S] ids -> [B, S, E] final-normed encoder states
    (bidirectional)."""
    b, s = source.shape
    positions = jnp.broadcast_to(jnp.arange(s), (b, s))
    x = self.embedding(source)
    for block in self.encoder:
      x, _ = block(x, positions, jnp.ones((s, s), bool))
    return self.encoder_norm(x)

  def memory(self, source):
    """[B, S] ids -> per decoder layer the cross-attention (k, v), each
    [B, S, Hkv, Dh]: everything the decoder needs from the source."""
    states = self.encode(source)
    return tuple(block.memory(states) for block in self.decoder)

  def decode(self, target, memory, cache=None, positions=None, qq_mask=None):
    """Decoder over target [B, T] ids, with or without a `KVCache`.

    Returns:
      ([B, T, V] f32 logits, the cache with the new slots or None).
    """
    b, t = target.shape
    start = (jnp.zeros((b,), jnp.int32) if cache is None else cache.length)
    if positions is None:
      positions = start[:, None] + jnp.arange(t)
    if qq_mask is None:
      qq_mask = causal_mask(t)
    x, ks, vs = self.embedding(target), [], []
    for i, block in enumerate(self.decoder):
      kv = None if cache is None else (cache.k[i], cache.v[i])
      x, new_kv = block(x, positions, qq_mask, memory[i], kv, start)
      if cache is not None:
        ks.append(new_kv[0])
        vs.append(new_kv[1])
    logits = self.embedding.attend(self.final_norm(x)).astype(jnp.float32)
    if cache is None:
      return logits, None
    return logits, KVCache(jnp.stack(ks), jnp.stack(vs), cache.length + t)

  def __call__(self, source, target):
    """Teacher-forced logits [B, T, V] of target [B, T] given source
    [B, S]."""
    return self.decode(target, self.memory(source))[0]


def build(config: EncDecConfig) -> EncDecLM:
  return EncDecLM(config)


class EncodedLM(flax.struct.PyTreeNode):
  """An EncDecLM bound to one batch of sources: an `ops.decoding`
  DecodingModel (`vocab_size`, `init_cache`, `extend`) over the decoder,
  holding the cross-attention memory computed once by `for_source`."""

  params: dict
  memory: tuple
  module: EncDecLM = flax.struct.field(pytree_node=False)

  @classmethod
  def for_source(cls, params, module: EncDecLM, source) -> "EncodedLM":
    """Encodes source [B, S] (the only encoder call)."""
    memory = module.apply({"params": params}, jnp.asarray(source),
                          method=EncDecLM.memory)
    return cls(params, memory, module)

  @property
  def vocab_size(self) -> int:
    return self.module.config.vocab_size

  def init_cache(self, batch: int, capacity: int) -> KVCache:
    """Zeros for the decoder's self-attention only: [layers, B, capacity,
    Hkv, Dh], whatever the source length."""
    rows = self.memory[0][0].shape[0]
    if batch != rows:
      raise ValueError(f"EncodedLM: cache batch {batch} != the {rows} "
                       f"encoded sources")
    cfg = self.module.config
    zeros = jnp.zeros((cfg.decoder_layers, batch, capacity,
                       cfg.num_kv_heads, cfg.head_dim), jnp.float32)
    return KVCache(zeros, zeros, jnp.zeros((batch,), jnp.int32))

  def extend(self, tokens, cache: KVCache, positions=None, qq_mask=None):
    """Decoder tokens [B, T] over the cache -> ([B, T, V] logits, cache)."""
    t = tokens.shape[1]
    if (not isinstance(cache.length, jax.core.Tracer)
        and int(jnp.max(cache.length)) + t > cache.capacity):
      raise ValueError(f"EncodedLM: decoding {t} tokens past "
                       f"{int(jnp.max(cache.length))} overflows the cache's "
                       f"capacity {cache.capacity}")
    return self.module.apply({"params": self.params}, tokens, self.memory,
                             cache, positions, qq_mask,
                             method=EncDecLM.decode)
