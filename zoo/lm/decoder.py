"""A decoder-only transformer LM with a static-shape KV cache.

    model = DecoderLM(DecoderConfig(vocab_size=4096))
    logits = model.apply(variables, tokens)                   # training
    lm = CachedLM(variables["params"], model)                 # decoding
    cache = lm.init_cache(batch=4, capacity=256)
    logits, cache = lm.extend(prompt, cache)                  # prefill
    logits, cache = lm.extend(next_tokens, cache, qq_mask=tree_mask,
                              positions=cache.length[:, None] + depth)

`extend` writes the new tokens' keys and values at slots
`[cache.length, cache.length + T)`, lets them attend to the cached prefix
and to each other through `qq_mask` (causal by default), and advances
`cache.length` by T. Speculative decoders then keep only the accepted slots
with `KVCache.commit`. Capacity is static: callers size it for the prompt,
the generation and the largest block of new tokens.

The defaults are the zoo's own decoder (RoPE, RMSNorm, SwiGLU, tied head);
the options `head_width`, `positions`, `block` and `tied_embeddings` build
the Llama, Qwen2 and GPT-2 layouts that `zoo.lm.checkpoints` loads.
"""

import dataclasses

import flax.linen as nn
import flax.struct
import jax
from jax import numpy as jnp

from ops.attention import causal_mask
from zoo import sharding
from zoo.errors import ConfigError
from zoo.layers.positions import PositionConfig
from zoo.layers.positions.rope import Rope
from zoo.layers.transformer import Block, BlockOptions, Projection


@dataclasses.dataclass(frozen=True)
class DecoderConfig:
  """Attributes:

    vocab_size: number of token ids.
    embed_dim: width of the residual stream.
    num_layers: transformer blocks.
    num_heads: query heads; embed_dim must be divisible by it unless
      head_width is given.
    num_kv_heads: key/value heads (grouped-query attention), dividing
      num_heads; 0 means num_heads.
    mlp_dim: the MLP's hidden width; 0 builds attention-only blocks.
    rope_base: rotary embedding base (of the rotary position kinds).
    dtype: computation dtype name, "float32" or "bfloat16" (params f32).
    head_width: width of a head where it is not embed_dim / num_heads
      (a checkpoint's `head_dim`); 0 derives it. Even for rotary positions.
    positions: a `zoo.layers.positions` kind: rotary ("rope", scaled
      "rope_linear" and "rope_llama3") or a learned table ("learned").
    block: how the blocks and the final norm are built (`BlockOptions`).
    tied_embeddings: logits against the token embeddings, else a separate
      output head [embed_dim, vocab_size].
    dropout: rate on the embeddings and both sublayers' outputs, active
      only when a call passes `deterministic=False` (and a "dropout" rng).
  """

  vocab_size: int = 4096
  embed_dim: int = 256
  num_layers: int = 4
  num_heads: int = 4
  num_kv_heads: int = 0
  mlp_dim: int = 768
  rope_base: float = 10_000.0
  dtype: str = "float32"
  head_width: int = 0
  positions: PositionConfig = Rope()
  block: BlockOptions = BlockOptions()
  tied_embeddings: bool = True
  dropout: float = 0.0

  def __post_init__(self):
    rest = 0 if self.head_width else self.embed_dim % self.num_heads
    odd = self.positions.rotary and self.head_dim % 2
    if rest or self.head_width < 0 or odd:
      raise ConfigError(f"DecoderConfig: embed_dim={self.embed_dim} must split "
                        f"into {self.num_heads} heads of even width")
    if self.num_kv_heads < 0 or self.num_heads % self.kv_heads:
      raise ConfigError(f"DecoderConfig: num_heads={self.num_heads} is not a "
                        f"multiple of num_kv_heads={self.num_kv_heads}")
    if self.mlp_dim < 0:
      raise ConfigError(f"DecoderConfig: mlp_dim must be >= 0 (0: attention "
                        f"only), got {self.mlp_dim}")
    if not 0 <= self.dropout < 1:
      raise ConfigError(f"DecoderConfig: dropout must be in [0, 1), got "
                        f"{self.dropout}")
    if self.dtype not in ("float32", "bfloat16"):
      raise ConfigError(f"DecoderConfig: dtype must be float32 or bfloat16, "
                        f"got {self.dtype!r}")

  @property
  def kv_heads(self) -> int:
    return self.num_kv_heads or self.num_heads

  @property
  def head_dim(self) -> int:
    return self.head_width or self.embed_dim // self.num_heads


@flax.struct.dataclass
class KVCache:
  """Keys and values of every layer, and the number of valid slots per row.

  Attributes:
    k, v: [layers, B, S, Hkv, Dh].
    length: [B] int32; slots at or after it are stale and never attended.
  """

  k: jax.Array
  v: jax.Array
  length: jax.Array

  @property
  def capacity(self) -> int:
    return self.k.shape[2]

  def take(self, index) -> "KVCache":
    """Rows `index` [B'] of the batch (beam reordering, prompt sharing)."""
    return KVCache(jnp.take(self.k, index, axis=1),
                   jnp.take(self.v, index, axis=1),
                   jnp.take(self.length, index, axis=0))

  def commit(self, start, path, n) -> "KVCache":
    """Keeps slots `start + path[:n]` as slots `start + [0, n)`, per row.

    Args:
      start: [B] int, the length before the new tokens were written.
      path: [B, P] int, offsets (relative to start) of the slots to keep, in
        order; entries past n are ignored.
      n: [B] int, how many to keep.
    """
    def one(c, s, p):  # c: [S, Hkv, Dh]
      rows = jnp.take(c, s + p, axis=0)
      return jax.lax.dynamic_update_slice_in_dim(c, rows, s, 0)
    per_layer = jax.vmap(jax.vmap(one), in_axes=(0, None, None))
    return KVCache(per_layer(self.k, start, path),
                   per_layer(self.v, start, path), start + n)


class DecoderLM(nn.Module):
  """Token embedding, transformer blocks, final norm, logits head.

  By default RoPE blocks, a final RMSNorm and a head tied to the embedding
  (see `DecoderConfig` for the other layouts).
  """

  config: DecoderConfig

  def setup(self):
    cfg = self.config
    dtype = jnp.dtype(cfg.dtype)
    self.embedding = nn.Embed(
        cfg.vocab_size, cfg.embed_dim, dtype=dtype,
        embedding_init=nn.with_logical_partitioning(
            nn.initializers.normal(cfg.embed_dim ** -0.5),
            (sharding.VOCAB, sharding.EMBED)))
    if cfg.positions.table_size:
      self.position_embedding = nn.Embed(
          cfg.positions.table_size, cfg.embed_dim, dtype=dtype,
          embedding_init=nn.with_logical_partitioning(
              nn.initializers.normal(0.02), (sharding.LENGTH, sharding.EMBED)))
    self.blocks = [
        Block(cfg.num_heads, cfg.kv_heads, cfg.head_dim, cfg.mlp_dim,
              cfg.rope_base, dtype, cfg.block, cfg.positions, cfg.dropout,
              name=f"block_{i}")
        for i in range(cfg.num_layers)]
    self.final_norm = cfg.block.norm.make(dtype)
    if cfg.dropout:
      self.input_dropout = nn.Dropout(cfg.dropout)
    if not cfg.tied_embeddings:
      self.head = Projection((cfg.vocab_size,),
                             (sharding.EMBED, sharding.VOCAB), dtype=dtype)

  def embed(self, tokens):
    """[B, T] ids -> [B, T, E] token embeddings."""
    return self.embedding(tokens)

  def _inputs(self, tokens, positions, embeddings, deterministic):
    """The first block's inputs: token embeddings, plus the learned
    positions' where the position kind has a table, then dropout."""
    x = self.embed(tokens) if embeddings is None else embeddings
    size = self.config.positions.table_size
    if size:
      if positions.shape[1] > size:
        raise ValueError(f"DecoderLM: {positions.shape[1]} positions in one "
                         f"call, but the learned table holds {size}")
      x = x + self.position_embedding(positions)
    if self.config.dropout:
      x = self.input_dropout(x, deterministic)
    return x

  def _shifted(self, layer_shift, index, x):
    """Block `index`'s output [B, T, E] after `layer_shift`, shape kept."""
    if layer_shift is None:
      return x
    y = layer_shift(index, x)
    if getattr(y, "shape", None) != x.shape:
      got = getattr(y, "shape", type(y).__name__)
      raise ValueError(f"DecoderLM: layer_shift must return the block "
                       f"output's shape {x.shape}, got {got} at layer {index}")
    return y.astype(x.dtype)

  def __call__(self, tokens, positions=None, qq_mask=None, embeddings=None,
               layer_shift=None, deterministic=True):
    """Full-sequence forward without a cache.

    Args:
      tokens: [B, T] ids (ignored when `embeddings` is given).
      positions: [B, T], default 0..T-1.
      qq_mask: [T, T] or [B, T, T] bool; default causal.
      embeddings: optional [B, T, E] inputs in place of `embed(tokens)`.
      layer_shift: optional `(layer_index, x [B, T, E]) -> [B, T, E]`,
        applied to each block's output (steering, in-context vectors);
        None leaves the stream alone.
      deterministic: False turns on `config.dropout`.

    Returns:
      [B, T, V] f32 logits.
    """
    return self.head_logits(self.states(tokens, positions, qq_mask,
                                        embeddings, layer_shift,
                                        deterministic))

  def states(self, tokens, positions=None, qq_mask=None, embeddings=None,
             layer_shift=None, deterministic=True):
    """The last block's outputs after the final norm, [B, T, E]: what the
    head reads, and what embedding models pool. Arguments as `__call__`."""
    b, t = (tokens if embeddings is None else embeddings).shape[:2]
    if positions is None:
      positions = jnp.broadcast_to(jnp.arange(t), (b, t))
    if qq_mask is None:
      qq_mask = causal_mask(t)
    x = self._inputs(tokens, positions, embeddings, deterministic)
    for i, block in enumerate(self.blocks):
      x, _ = block(x, positions, qq_mask, deterministic=deterministic)
      x = self._shifted(layer_shift, i, x)
    return self.final_norm(x)

  def head_logits(self, states):
    """[..., E] final-normed states -> [..., V] f32 logits."""
    if self.config.tied_embeddings:
      # Unit-RMS features against rows of norm ~1 give O(1) logits.
      return self.embedding.attend(states).astype(jnp.float32)
    return self.head(states).astype(jnp.float32)

  def extend(self, tokens, cache: KVCache, positions=None, qq_mask=None,
             embeddings=None, layer_shift=None):
    """New tokens over the cache; see the module docstring.

    Args:
      tokens: [B, T] ids (ignored when `embeddings` is given).
      cache: the KVCache; needs `length + T <= capacity`.
      positions: [B, T], default `length + [0, T)`.
      qq_mask: [T, T] or [B, T, T] bool; default causal.
      embeddings: optional [B, T, E] inputs.
      layer_shift: as in `__call__`; a shifted prefill and shifted steps
        equal the shifted full forward.

    Returns:
      ([B, T, V] f32 logits, cache with the new slots and length + T).
    """
    states, cache = self.extend_states(tokens, cache, positions, qq_mask,
                                       embeddings, layer_shift)
    return self.head_logits(states), cache

  def extend_states(self, tokens, cache: KVCache, positions=None,
                    qq_mask=None, embeddings=None, layer_shift=None):
    """`extend`, returning the final-normed states [B, T, E] (what
    `states` gives without a cache) in place of the logits."""
    t = (tokens if embeddings is None else embeddings).shape[1]
    if positions is None:
      positions = cache.length[:, None] + jnp.arange(t)
    if qq_mask is None:
      qq_mask = causal_mask(t)
    x = self._inputs(tokens, positions, embeddings, True)
    ks, vs = [], []
    for i, block in enumerate(self.blocks):
      x, (k, v) = block(x, positions, qq_mask, (cache.k[i], cache.v[i]),
                        cache.length)
      x = self._shifted(layer_shift, i, x)
      ks.append(k)
      vs.append(v)
    return self.final_norm(x), KVCache(jnp.stack(ks), jnp.stack(vs),
                                       cache.length + t)


def build(config: DecoderConfig) -> DecoderLM:
  return DecoderLM(config)


class CachedLM(flax.struct.PyTreeNode):
  """A DecoderLM and its params as one pytree: an `ops.decoding.DecodingModel`
  (`vocab_size`, `init_cache`, `extend`) that passes through `jax.jit` as an
  ordinary argument."""

  params: dict
  module: DecoderLM = flax.struct.field(pytree_node=False)

  @property
  def vocab_size(self) -> int:
    return self.module.config.vocab_size

  def init_cache(self, batch: int, capacity: int) -> KVCache:
    """Zeros; a learned position table bounds the capacity (decoders then
    refuse prompts that need more, see `ops.decoding.new_cache`)."""
    cfg = self.module.config
    capacity = min(capacity, cfg.positions.table_size or capacity)
    shape = (cfg.num_layers, batch, capacity, cfg.kv_heads, cfg.head_dim)
    zeros = jnp.zeros(shape, jnp.dtype(cfg.dtype))
    return KVCache(zeros, zeros, jnp.zeros((batch,), jnp.int32))

  def extend(self, tokens, cache, positions=None, qq_mask=None,
             embeddings=None, layer_shift=None):
    return self.module.apply({"params": self.params}, tokens, cache,
                             positions, qq_mask, embeddings, layer_shift,
                             method=DecoderLM.extend)

  def embed(self, tokens):
    return self.module.apply({"params": self.params}, tokens,
                             method=DecoderLM.embed)

  def __call__(self, tokens, positions=None, qq_mask=None):
    return self.module.apply({"params": self.params}, tokens, positions,
                             qq_mask)
