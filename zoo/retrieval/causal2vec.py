"""Causal2Vec: a causal LM embeds text through one contextual token.

Lin et al., "Causal2Vec: Improving Decoder-only LLMs as Versatile Embedding
Models" (2025; no public code found). A light bidirectional encoder reads
the text and is mean-pooled; an MLP maps the result to the LM's width,
giving a "contextual" token C. The LM reads `<bos> C x <eos>` with its
causal mask unchanged, so every text token sees C, which has seen the whole
text. The embedding is concat(h(C), h(<eos>)) of the LM's final-normed
states (2 E); the baseline (`contextual=False`) is the same LM on
`<bos> x <eos>`, pooled at <eos>.

Choices (ours; `# ours:` in code):
  - C goes right after <bos> (the paper's place is UNVERIFIED);
  - the light encoder is the zoo's BertEncoder, 2 layers of width 64, on
    the LM's own BPE ids (no specials), mean-pooled over real tokens; with
    the MLP, Dense(E) -> GELU -> Dense(E), 0.29M parameters, 13% of the
    2.2M LM (the spec's cap is 15%: MiniLM, 10x the LM, would decide
    retrieval alone). Its word embeddings start from the LM's embedding
    table on its first 64 principal directions (`principal_rows`; the paper
    starts from a pretrained encoder, and none shares this BPE);
  - texts are cut to their first `max_tokens` (96) tokens on both paths;
  - vectors are L2-normalised (concat of the two halves, then normalised:
    both are final-normed states of RMS ~1), scored by cosine;
  - an empty text embeds as the zero vector.

Pool modes of `encode`: "concat" (Causal2Vec), "contextual" (h(C) alone,
the same model) and "eos" (h(<eos>) alone; the only mode without C).
"""

import dataclasses
from collections.abc import Sequence

import flax.linen as nn
import jax
import numpy as np
from jax import numpy as jnp

from zoo import registry
from zoo.lm import special_tokens
from zoo.lm.decoder import DecoderConfig, DecoderLM
from zoo.retrieval import rankers
from zoo.retrieval.bert import BertConfig, BertEncoder

POOLS = ("concat", "contextual", "eos")
MAX_TOKENS = 96
# The zoo's code target LM (train/configs/lm.py, size=target), 2.2M params.
CODE_LM = DecoderConfig(vocab_size=2048, embed_dim=192, num_layers=4,
                        num_heads=3, mlp_dim=512)
LIGHT_ENCODER = BertConfig(vocab_size=2048, hidden=64, layers=2, heads=2,
                           intermediate=256, max_position=MAX_TOKENS)
_ENCODE_ROWS = 64  # texts per jitted call in `encode_texts`
_WIDTH_STEP = 32  # padded text widths are multiples of it (few compiles)


@dataclasses.dataclass(frozen=True)
class Causal2VecConfig:
  """Attributes:

    lm: the decoder LM (the trained target's config).
    encoder: the light bidirectional encoder (vocab_size = the LM's).
    contextual: insert C (Causal2Vec); False is the <eos>-only baseline.
    max_tokens: text tokens kept per text (the first ones).
    temperature: InfoNCE temperature over cosine scores.
    target: the `train.store.lm` target whose weights start the LM.
    smoke_target: start from that target's smoke model instead.
  """

  lm: DecoderConfig = CODE_LM
  encoder: BertConfig = LIGHT_ENCODER
  contextual: bool = True
  max_tokens: int = MAX_TOKENS
  temperature: float = 0.05
  target: str = "code"
  smoke_target: bool = False

  def __post_init__(self):
    if self.encoder.vocab_size != self.lm.vocab_size:
      raise ValueError(f"Causal2VecConfig: the encoder reads the LM's ids, "
                       f"so encoder.vocab_size must be {self.lm.vocab_size}, "
                       f"got {self.encoder.vocab_size}")
    if not 1 <= self.max_tokens <= self.encoder.max_position:
      raise ValueError(f"Causal2VecConfig: max_tokens must be in [1, "
                       f"encoder.max_position={self.encoder.max_position}], "
                       f"got {self.max_tokens}")
    if not np.isfinite(self.temperature) or self.temperature <= 0:
      raise ValueError(f"Causal2VecConfig: temperature must be finite and "
                       f"> 0, got {self.temperature}")

  @property
  def default_pool(self) -> str:
    return "concat" if self.contextual else "eos"


def baseline_config(cfg: Causal2VecConfig = Causal2VecConfig()
                    ) -> Causal2VecConfig:
  """The same LM and settings without C, pooled at <eos>."""
  return dataclasses.replace(cfg, contextual=False)


def layout(tokens: jax.Array, mask: jax.Array, *, contextual: bool,
           max_tokens: int) -> tuple[jax.Array, jax.Array, jax.Array]:
  """The LM's rows `<bos> [C] x <eos> <pad>..` and the encoder's `x`.

  Args:
    tokens: [B, T] text ids without specials.
    mask: [B, T] bool, True at real tokens (taken in order, any alignment).
    contextual: leave slot 1 for C (it holds <pad> here).
    max_tokens: the first `max_tokens` real tokens are kept.

  Returns:
    ids [B, W] (W = 2 + contextual + m, m = min(T, max_tokens)),
    text [B, m] the kept tokens left-aligned (<pad> after),
    lengths [B] the number kept; <eos> sits at 1 + contextual + lengths.
  """
  batch, m = tokens.shape[0], min(tokens.shape[1], max_tokens)
  first = 1 + int(contextual)
  rows = jnp.arange(batch)[:, None]
  rank = jnp.cumsum(mask, axis=1) - 1  # index among the real tokens
  keep = mask & (rank < m)
  lengths = keep.sum(1)
  tokens = tokens.astype(jnp.int32)
  text = jnp.full((batch, m), special_tokens.PAD, jnp.int32).at[
      rows, jnp.where(keep, rank, m)].set(tokens, mode="drop")
  ids = jnp.full((batch, first + m + 1), special_tokens.PAD, jnp.int32)
  ids = ids.at[:, 0].set(special_tokens.BOS)
  ids = ids.at[:, first:first + m].set(text)
  ids = ids.at[jnp.arange(batch), first + lengths].set(special_tokens.EOS)
  return ids, text, lengths


def _gather(states, index):
  """states [B, W, E], index [B] -> [B, E]."""
  return jnp.take_along_axis(states, index[:, None, None], axis=1)[:, 0]


def _unit(x):
  return x / jnp.maximum(jnp.linalg.norm(x, axis=-1, keepdims=True), 1e-12)


class Causal2Vec(nn.Module):
  """The LM (`lm`), and with `contextual` the light encoder (`encoder`) and
  the MLP (`mlp_hidden`, `mlp_out`) that make C."""

  cfg: Causal2VecConfig

  def setup(self):
    cfg = self.cfg
    self.lm = DecoderLM(cfg.lm)
    if cfg.contextual:
      self.encoder = BertEncoder(cfg.encoder)
      self.mlp_hidden = nn.Dense(cfg.lm.embed_dim)
      self.mlp_out = nn.Dense(cfg.lm.embed_dim)

  def contextual_token(self, text: jax.Array, text_mask: jax.Array
                       ) -> jax.Array:
    """C [B, E] of left-aligned text [B, m] ids and their [B, m] mask."""
    h = self.encoder(text, text_mask)  # [B, m, encoder.hidden]
    m = text_mask[..., None].astype(jnp.float32)
    pooled = (h.astype(jnp.float32) * m).sum(1) / jnp.maximum(m.sum(1), 1.0)
    return self.mlp_out(nn.gelu(self.mlp_hidden(pooled)))

  def states(self, tokens: jax.Array, mask: jax.Array,
             context: jax.Array | None = None
             ) -> tuple[jax.Array, jax.Array, jax.Array]:
    """The LM's final-normed states over `<bos> [C] x <eos>`.

    Args:
      tokens: [B, T] text ids; mask: [B, T] bool (see `layout`).
      context: [B, E] a C to use instead of the encoder's (tests, probes).

    Returns:
      states [B, W, E], the <eos> index [B] and the kept lengths [B].
    """
    cfg = self.cfg
    ids, text, lengths = layout(tokens, mask, contextual=cfg.contextual,
                                max_tokens=cfg.max_tokens)
    x = self.lm.embed(ids)  # [B, W, E]
    if cfg.contextual:
      if context is None:
        text_mask = jnp.arange(text.shape[1])[None] < lengths[:, None]
        context = self.contextual_token(text, text_mask)
      x = x.at[:, 1].set(context.astype(x.dtype))  # ours: C after <bos>
    elif context is not None:
      raise ValueError("Causal2Vec.states: a model without C takes no "
                       "context")
    states = self.lm.states(ids, embeddings=x)
    return states, 1 + int(cfg.contextual) + lengths, lengths

  def encode(self, tokens: jax.Array, mask: jax.Array,
             pool: str | None = None) -> jax.Array:
    """Unit text vectors: [B, 2E] ("concat") or [B, E]; zero for empty texts.
    """
    pool = pool or self.cfg.default_pool
    if pool not in POOLS or (pool != "eos" and not self.cfg.contextual):
      allowed = POOLS if self.cfg.contextual else ("eos",)
      raise ValueError(f"Causal2Vec.encode: pool must be one of {allowed}, "
                       f"got {pool!r}")
    states, eos, lengths = self.states(tokens, mask)
    states = states.astype(jnp.float32)
    parts = {"contextual": [states[:, 1]], "eos": [_gather(states, eos)]}
    parts["concat"] = parts["contextual"] + parts["eos"]
    vectors = _unit(jnp.concatenate(parts[pool], axis=-1))
    return jnp.where(lengths[:, None] > 0, vectors, 0.0)

  def __call__(self, tokens, mask, pool=None):
    return self.encode(tokens, mask, pool)


def build(cfg: Causal2VecConfig) -> Causal2Vec:
  return Causal2Vec(cfg)


SYSTEM = registry.System(
    name="causal2vec",
    family="retrieval",
    paper="Causal2Vec: Improving Decoder-only LLMs as Versatile Embedding "
          "Models",
    summary="A light bidirectional encoder makes one contextual token C "
            "after <bos>; the causal LM's h(C) and h(<eos>) embed the text.",
    default_config=Causal2VecConfig,
    builder=build,
    configs=("train.configs.causal2vec:get_config",),
    task="train.tasks.causal2vec:TASK",
    claim="eval.claims.causal2vec:check",
    # The factory restores a trained workdir, so it lives in `train`.
    ranker="train.tasks.causal2vec:ranker_for",
    datasets=("train.data.builders.stdlib_code_search:StdlibCodeSearch",
              "train.data.builders.stdlib_bpe:StdlibCodeBpe"),
)


def principal_rows(table: np.ndarray, dim: int) -> np.ndarray:
  """[V, E] embedding rows -> [V, dim]: their coordinates on the first `dim`
  principal directions (centred), the light encoder's starting table."""
  table = np.asarray(table, np.float64)
  if not 1 <= dim <= table.shape[1]:
    raise ValueError(f"principal_rows: dim must be in [1, {table.shape[1]}], "
                     f"got {dim}")
  centred = table - table.mean(0)
  _, _, vt = np.linalg.svd(centred, full_matrices=False)
  return (centred @ vt[:dim].T).astype(np.float32)


def token_ids(tokenizer, texts: Sequence[str], max_tokens: int = MAX_TOKENS
              ) -> tuple[np.ndarray, np.ndarray]:
  """Texts -> ([N, max_tokens] int32 ids, [N, max_tokens] bool mask), each
  cut to its first `max_tokens` BPE tokens.

  Args:
    tokenizer: a `tokenizers.Tokenizer` (the LM's BPE, adding no specials).
    texts: a sequence of strings (or bytes), not one string.
    max_tokens: tokens kept per text, >= 1.
  """
  if isinstance(texts, (str, bytes)):
    raise ValueError("token_ids: texts must be a sequence of strings, got "
                     "one string")
  if not isinstance(max_tokens, int) or max_tokens < 1:
    raise ValueError(f"token_ids: max_tokens must be an int >= 1, got "
                     f"{max_tokens!r}")
  texts = [t.decode() if isinstance(t, bytes) else str(t) for t in texts]
  ids = np.zeros((len(texts), max_tokens), np.int32)
  mask = np.zeros((len(texts), max_tokens), bool)
  for i, encoding in enumerate(tokenizer.encode_batch(texts) if texts
                               else []):
    row = encoding.ids[:max_tokens]
    ids[i, :len(row)], mask[i, :len(row)] = row, True
  return ids, mask


def encode_texts(encode, tokenizer, texts: Sequence[str],
                 max_tokens: int = MAX_TOKENS) -> np.ndarray:
  """[N, D] vectors of texts through a jitted `encode(ids, mask)`.

  Texts go in order of length, `_ENCODE_ROWS` per call, each call cut to its
  longest text rounded up to `_WIDTH_STEP` tokens (a few compiles).
  """
  ids, mask = token_ids(tokenizer, texts, max_tokens)
  return rankers.by_length(encode, ids, mask, rows=_ENCODE_ROWS,
                           width_step=_WIDTH_STEP)


def ranker(model: Causal2Vec, variables, tokenizer, pool: str | None = None,
           depth: int = 100) -> rankers.Ranker:
  """Ranks by cosine of `pool` vectors (default: the model's own)."""
  encode = jax.jit(lambda ids, mask: model.apply(variables, ids, mask, pool,
                                                 method="encode"))

  def rank(texts):
    q = encode_texts(encode, tokenizer, texts.queries, model.cfg.max_tokens)
    d = encode_texts(encode, tokenizer, texts.docs, model.cfg.max_tokens)
    return rankers.top_indices(q @ d.T, depth)
  return rank
