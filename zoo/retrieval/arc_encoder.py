"""ARC-Encoder: a context compressed into vectors for a frozen decoder.

Pilchen et al. (Kyutai), "ARC-Encoder: learning compressed text
representations for large language models" (arXiv 2510.20535; code
kyutai-labs/ARC-Encoder). The encoder is the decoder's first blocks,
trained; its last self-attention averages the queries of consecutive
groups of x tokens (keys and values unpooled: `zoo.layers.pooled_attention`),
so L context tokens give ceil(L/x) states; an MLP (E -> 512 -> E, GELU)
maps them to the decoder's embedding width, and those vectors replace the
context's token embeddings of the frozen decoder (`DecoderLM(embeddings=)`).
Training alternates reconstruction (the decoder regenerates the context
from its vectors) and continuation (it predicts the text that follows).

Here the decoder is the zoo's "text" target (`train.store.lm`, 4 layers of
width 192, 2.2M parameters, trained on the stdlib's docstrings and
reference topics); the encoder starts as a copy of its embedding table and
first 2 blocks. The decoder is frozen by keeping its parameters out of the
optimizer altogether: they live in the `frozen` collection of the train
state (`split_frozen`), and `merged` puts them back for a forward pass.

Choices (ours; `# ours:` in code):
  - bidirectional encoder attention (`causal_encoder=False`; the paper's
    `causal_embedder` default is UNVERIFIED);
  - the pooled block pools its residual stream too (group means), and an
    RMSNorm (from ones) sits before the MLP;
  - no <rec>/<cont> marker tokens; each step is reconstruction with
    probability `reconstruction_rate` (0.5), else continuation;
  - the decoder sees the vectors at positions [0, n) and the text after
    them at [n, ...), as it would see the n tokens they replace;
  - "nothing" as context is one <bos> (the corpus starts documents so).
"""

import dataclasses

import flax.linen as nn
import jax
import numpy as np
import optax
from jax import numpy as jnp

from zoo import registry
from zoo.layers import pooled_attention
from zoo.layers.transformer import Block
from zoo.lm import special_tokens
from zoo.lm.decoder import DecoderConfig, DecoderLM

# The zoo's text target LM (train/configs/lm.py, size=target), 2.2M params.
TEXT_LM = DecoderConfig(vocab_size=2048, embed_dim=192, num_layers=4,
                        num_heads=3, mlp_dim=512)
CONTEXT, CONTINUATION = 128, 64
# What the decoder reads before the continuation (`ArcEncoder.nll`).
FEEDS = ("text", "none", "last", "vectors")
FROZEN = "frozen"  # the collection holding the frozen decoder ("lm")


@dataclasses.dataclass(frozen=True)
class ArcEncoderConfig:
  """Attributes:

    lm: the frozen decoder (the trained target's config).
    encoder_layers: the decoder's first blocks copied into the encoder; the
      last of them pools.
    pool: the pooling factor x (ceil(L/x) vectors for L tokens).
    causal_encoder: causal encoder attention, else bidirectional.
    projector_hidden: the MLP's hidden width.
    context_len, continuation_len: tokens of context and of the text after.
    reconstruction_rate: the probability that a step reconstructs.
    target: the `train.store.lm` target that is the decoder.
    smoke_target: its smoke model instead.
  """

  lm: DecoderConfig = TEXT_LM
  encoder_layers: int = 2
  pool: int = 4
  causal_encoder: bool = False  # ours: bidirectional
  projector_hidden: int = 512
  context_len: int = CONTEXT
  continuation_len: int = CONTINUATION
  reconstruction_rate: float = 0.5
  target: str = "text"
  smoke_target: bool = False

  def __post_init__(self):
    if isinstance(self.pool, bool) or not isinstance(self.pool, int) or (
        self.pool < 1):
      raise ValueError(f"ArcEncoderConfig: pool (x) must be an int >= 1, "
                       f"got {self.pool!r}")
    if not 1 <= self.encoder_layers <= self.lm.num_layers:
      raise ValueError(f"ArcEncoderConfig: encoder_layers must be in [1, "
                       f"lm.num_layers={self.lm.num_layers}], got "
                       f"{self.encoder_layers}")
    if min(self.context_len, self.continuation_len,
           self.projector_hidden) < 1:
      raise ValueError("ArcEncoderConfig: context_len, continuation_len and "
                       "projector_hidden must be >= 1")
    if not 0 <= self.reconstruction_rate <= 1:  # also refuses nan
      raise ValueError(f"ArcEncoderConfig: reconstruction_rate must be in "
                       f"[0, 1], got {self.reconstruction_rate}")

  @property
  def num_vectors(self) -> int:
    return pooled_attention.pooled_length(self.context_len, self.pool)


class Compressor(nn.Module):
  """Token embedding, `layers - 1` blocks, a pooled block, a norm and the
  MLP projector: [B, L] ids -> [B, ceil(L/pool), out_dim]."""

  lm: DecoderConfig
  layers: int
  pool: int
  causal: bool
  hidden: int
  out_dim: int

  @nn.compact
  def __call__(self, tokens):
    cfg = self.lm
    dtype = jnp.dtype(cfg.dtype)
    b, length = tokens.shape
    x = nn.Embed(cfg.vocab_size, cfg.embed_dim, dtype=dtype,
                 name="embedding")(tokens)
    positions = jnp.broadcast_to(jnp.arange(length), (b, length))
    mask = jnp.tril(jnp.ones((length, length), bool)) if self.causal else (
        jnp.ones((length, length), bool))
    shape = (cfg.num_heads, cfg.kv_heads, cfg.head_dim, cfg.mlp_dim,
             cfg.rope_base, dtype)
    for i in range(self.layers - 1):
      x, _ = Block(*shape, cfg.block, cfg.positions, name=f"block_{i}")(
          x, positions, mask)
    x = pooled_attention.PooledBlock(
        *shape, self.pool, self.causal, cfg.block, cfg.positions,
        name=f"block_{self.layers - 1}")(x, positions)
    x = cfg.block.norm.make(dtype, "norm")(x)  # ours
    x = nn.gelu(nn.Dense(self.hidden, name="projector_hidden")(x))
    return nn.Dense(self.out_dim, name="projector_out")(x)


def prefix_nll(lm: DecoderLM, prefix: jax.Array, targets: jax.Array,
               layer_shift=None) -> jax.Array:
  """Per-row mean NLL of `targets` [B, T] read after `prefix` [B, P, E]
  input embeddings (P >= 1), the first target predicted at position P-1.
  Returns [B] f32."""
  x = jnp.concatenate([prefix.astype(jnp.float32),
                       lm.embed(targets[:, :-1]).astype(jnp.float32)], 1)
  logits = lm(None, embeddings=x.astype(jnp.dtype(lm.config.dtype)),
              layer_shift=layer_shift)[:, prefix.shape[1] - 1:]
  return optax.softmax_cross_entropy_with_integer_labels(
      logits, targets).mean(-1)


def bos_prefix(lm: DecoderLM, batch: int) -> jax.Array:
  """[B, 1, E]: one <bos>, the "nothing" context."""
  return lm.embed(jnp.full((batch, 1), special_tokens.BOS, jnp.int32))


def text_prefix(lm: DecoderLM, context: jax.Array, feed: str,
                last: int) -> jax.Array:
  """The prefix embeddings of the text feeds: "text" (the whole context),
  "none" (one <bos>) and "last" (its last `last` tokens)."""
  if feed == "text":
    return lm.embed(context)
  if feed == "last":
    return lm.embed(context[:, context.shape[1] - last:])
  return bos_prefix(lm, context.shape[0])


class ArcEncoder(nn.Module):
  """The frozen decoder (`lm`) and the trained compressor (`encoder`)."""

  cfg: ArcEncoderConfig

  def setup(self):
    cfg = self.cfg
    self.lm = DecoderLM(cfg.lm)
    self.encoder = Compressor(cfg.lm, cfg.encoder_layers, cfg.pool,
                              cfg.causal_encoder, cfg.projector_hidden,
                              cfg.lm.embed_dim)

  def compress(self, context: jax.Array) -> jax.Array:
    """[B, L] context ids -> [B, ceil(L/x), E] vectors."""
    return self.encoder(context)

  def vectors_nll(self, vectors: jax.Array, targets: jax.Array) -> jax.Array:
    """[B] NLL of targets [B, T] after vectors [B, n, E] of any origin."""
    e = self.cfg.lm.embed_dim
    if vectors.ndim != 3 or vectors.shape[0] != targets.shape[0] or (
        vectors.shape[2] != e or vectors.shape[1] < 1):
      raise ValueError(f"ArcEncoder: vectors must be [B={targets.shape[0]}, "
                       f"n >= 1, E={e}], got {vectors.shape}")
    return prefix_nll(self.lm, vectors, targets)

  def nll(self, context: jax.Array, targets: jax.Array,
          feed: str = "vectors") -> jax.Array:
    """[B] NLL of targets [B, T] after the context [B, L] fed as `feed`."""
    if feed == "vectors":
      return self.vectors_nll(self.compress(context), targets)
    if feed not in FEEDS:
      raise ValueError(f"ArcEncoder: feed must be one of {FEEDS}, got "
                       f"{feed!r}")
    return prefix_nll(self.lm, text_prefix(
        self.lm, context, feed, self.cfg.num_vectors), targets)

  def __call__(self, context, targets, feed="vectors"):
    return self.nll(context, targets, feed)


def build(cfg: ArcEncoderConfig) -> ArcEncoder:
  return ArcEncoder(cfg)


def split_frozen(variables: dict) -> dict:
  """{"params": {..., "lm": D}} -> {"params": {...}, "frozen": {"lm": D}}:
  the decoder out of reach of the optimizer."""
  params = dict(variables["params"])
  return {**variables, "params": params,
          FROZEN: {"lm": params.pop("lm")}}


def merged(variables: dict) -> dict:
  """The inverse of `split_frozen`: variables a forward pass reads."""
  return {"params": {**variables["params"], **variables[FROZEN]}}


def encoder_start(lm_params: dict, encoder_layers: int) -> dict:
  """The compressor's start from decoder params: its embedding table and
  first blocks (the projector and norm keep their init)."""
  return {"embedding": lm_params["embedding"],
          **{f"block_{i}": lm_params[f"block_{i}"]
             for i in range(encoder_layers)}}


def context_spans(windows: np.ndarray, context_len: int,
                  continuation_len: int) -> tuple[np.ndarray, np.ndarray]:
  """[N, W] token windows -> ([N, context_len] contexts, [N,
  continuation_len] continuations): each window's first tokens."""
  need = context_len + continuation_len
  if windows.ndim != 2 or windows.shape[1] < need:
    raise ValueError(f"context_spans: windows must be [N, >= {need}], got "
                     f"{windows.shape}")
  return (windows[:, :context_len].astype(np.int32),
          windows[:, context_len:need].astype(np.int32))


SYSTEM = registry.System(
    name="arc_encoder",
    family="retrieval",
    paper="ARC-Encoder: learning compressed text representations for large "
          "language models",
    summary="The text LM's first 2 blocks, pooling queries 4:1 in the last, "
            "and an MLP make 32 vectors that replace 128 context tokens of "
            "the frozen LM.",
    default_config=ArcEncoderConfig,
    builder=build,
    configs=("train.configs.arc_encoder:get_config",),
    task="train.tasks.arc_encoder:TASK",
    claim="eval.claims.arc_encoder:check",
    datasets=("train.data.builders.stdlib_bpe:StdlibTextBpe",),
)
