"""UniXcoder: one transformer, three attention modes, AST-aware embeddings.

Guo et al., "UniXcoder: Unified Cross-Modal Pre-training for Code
Representation" (ACL 2022), after microsoft/CodeBERT `UniXcoder/` (read as
reference, nothing copied). Every input starts `<cls> <mode> <sep>`; the
mode picks the attention mask: `encoder-only` full, `decoder-only` causal,
`encoder-decoder` full over the source and causal over the target (a
prefix LM). Pretraining (MLM, ULM, DNS spans; `train.tasks.
unixcoder_pretrain`) is followed by multi-modal contrastive learning (MCL:
SimCSE over comment + flattened AST, `train.tasks.unixcoder`); a text's
embedding is the mean of its encoder-only states, L2-normalised.

The model is the zoo's decoder blocks (`zoo.lm.decoder.DecoderLM`, RoPE,
the "code" target's size, 2.2M parameters) with dropout 0.1 and a larger
vocabulary. Choices (ours; `# ours:` in code):
  - ids: the code BPE uses 0..2047 (its specials <pad> <bos> <eos> <mask>
    are 0..3 and MLM reuses <mask>); new ids follow it: `<cls>` 2048,
    `<sep>` 2049, the three mode tokens 2050..2052, the DNS sentinels
    `<mask0>`..`<mask15>` 2053..2068, then the `MARKERS` of
    `zoo.retrieval.ast_flatten` (node, list and None markers), one id each
    (210 on Python 3.11): 2,279 ids. Their embedding rows start random;
    the first 2,048 come from the trained "code" target;
  - an AST leaf is the BPE of " " + its text (identifiers follow a space in
    source, so this matches their usual tokens);
  - pooling averages the text tokens only (the prefix is left out), so an
    empty text embeds as the zero vector;
  - texts are cut to their first `max_tokens` tokens (the flattened AST of
    a function is about twice its code tokens: median 139 vs 65).
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
from zoo.retrieval import ast_flatten, rankers

BPE_SIZE = 2048
CLS, SEP = BPE_SIZE, BPE_SIZE + 1
MODES = ("encoder-only", "decoder-only", "encoder-decoder")
MODE_IDS = {mode: BPE_SIZE + 2 + i for i, mode in enumerate(MODES)}
NUM_SENTINELS = 16
SENTINEL_BASE = BPE_SIZE + 5  # <mask0>
MARKER_BASE = SENTINEL_BASE + NUM_SENTINELS
MARKER_IDS = {m: MARKER_BASE + i for i, m in enumerate(ast_flatten.MARKERS)}
VOCAB_SIZE = MARKER_BASE + len(ast_flatten.MARKERS)
PREFIX = 3  # <cls> <mode> <sep>
MAX_TOKENS = 128
FORMS = ("code", "ast")
# The "code" target's size (train/configs/lm.py, size=target), its vocab
# grown by the new ids, with dropout 0.1.
CODE_LM = DecoderConfig(vocab_size=VOCAB_SIZE, embed_dim=192, num_layers=4,
                        num_heads=3, mlp_dim=512, dropout=0.1)
_ENCODE_ROWS = 64
_WIDTH_STEP = 32


@dataclasses.dataclass(frozen=True)
class UniXcoderConfig:
  """Attributes:

    lm: the transformer (vocab_size must be `VOCAB_SIZE`).
    max_tokens: text tokens kept per input (the first ones).
    temperature: MCL's InfoNCE temperature over cosine scores.
    mcl_form: what follows the comment in MCL inputs: "ast" (UniXcoder)
      or "code" (the code tokens; the baseline).
    cmg_weight: weight of cross-modal generation (comment from AST) added
      to MCL; 0 leaves it out.
    mlm_rate: fraction of text tokens MLM masks.
    span_length: length of each DNS span.
    target: the `train.store.lm` target whose weights start pretraining.
    smoke_target: start from that target's smoke model instead.
  """

  lm: DecoderConfig = CODE_LM
  max_tokens: int = MAX_TOKENS
  temperature: float = 0.05
  mcl_form: str = "ast"
  cmg_weight: float = 0.0
  mlm_rate: float = 0.15
  span_length: int = 3
  target: str = "code"
  smoke_target: bool = False

  def __post_init__(self):
    if self.lm.vocab_size != VOCAB_SIZE:
      raise ValueError(f"UniXcoderConfig: lm.vocab_size must be "
                       f"{VOCAB_SIZE} (BPE + specials + AST markers), got "
                       f"{self.lm.vocab_size}")
    if self.mcl_form not in FORMS:
      raise ValueError(f"UniXcoderConfig: mcl_form must be one of {FORMS}, "
                       f"got {self.mcl_form!r}")
    if self.max_tokens < 1 or self.span_length < 1:
      raise ValueError("UniXcoderConfig: max_tokens and span_length must "
                       "be >= 1")
    if not 0 < self.mlm_rate < 1 or self.temperature <= 0:
      raise ValueError("UniXcoderConfig: mlm_rate must be in (0, 1) and "
                       "temperature > 0")


def _check_mode(mode: str, where: str) -> None:
  if mode not in MODES:
    raise ValueError(f"{where}: mode must be one of {MODES}, got {mode!r}")


def mode_mask(mode: str, real: jax.Array, source_end: jax.Array | None = None
              ) -> jax.Array:
  """[B, T, T] bool: may query i attend to key j, in `mode`.

  Args:
    mode: one of `MODES`.
    real: [B, T] bool, True at real tokens (prefix included).
    source_end: [B] int, for "encoder-decoder": positions before it are
      the source (seen by every query), later ones the causal target.

  Every query also sees itself, so padding rows stay finite.
  """
  _check_mode(mode, "mode_mask")
  t = real.shape[1]
  i, j = jnp.arange(t)[:, None], jnp.arange(t)[None, :]
  keys = real[:, None, :]
  if mode == "encoder-only":
    allowed = jnp.broadcast_to(keys, (real.shape[0], t, t))
  elif mode == "decoder-only":
    allowed = keys & (j <= i)[None]
  else:
    if source_end is None:
      raise ValueError("mode_mask: encoder-decoder needs source_end")
    allowed = keys & ((j <= i)[None] | (j < source_end[:, None, None]))
  return allowed | (i == j)[None]


def layout(tokens: jax.Array, mask: jax.Array, mode: str
           ) -> tuple[jax.Array, jax.Array]:
  """`<cls> <mode> <sep> tokens` rows: (ids [B, 3 + T], real [B, 3 + T]).

  Args:
    tokens: [B, T] ids, real tokens first in each row.
    mask: [B, T] bool, True at real tokens.
  """
  _check_mode(mode, "layout")
  b = tokens.shape[0]
  prefix = jnp.broadcast_to(jnp.array([CLS, MODE_IDS[mode], SEP],
                                      jnp.int32), (b, PREFIX))
  ids = jnp.concatenate([prefix, jnp.where(mask, tokens, special_tokens.PAD
                                           ).astype(jnp.int32)], axis=1)
  real = jnp.concatenate([jnp.ones((b, PREFIX), bool), mask], axis=1)
  return ids, real


def _unit(x):
  return x / jnp.maximum(jnp.linalg.norm(x, axis=-1, keepdims=True), 1e-12)


class UniXcoder(nn.Module):
  """The transformer (`lm`) run in one of the three modes."""

  cfg: UniXcoderConfig

  def setup(self):
    self.lm = DecoderLM(self.cfg.lm)

  def states(self, ids: jax.Array, real: jax.Array, mode: str,
             source_end: jax.Array | None = None,
             deterministic: bool = True) -> jax.Array:
    """Final-normed states [B, T, E] of laid-out rows ids, real [B, T]
    (see `layout`, `mode_mask`); `deterministic=False` turns on dropout."""
    return self.lm.states(ids, qq_mask=mode_mask(mode, real, source_end),
                          deterministic=deterministic)

  def logits(self, states: jax.Array) -> jax.Array:
    """[B, T, E] states -> [B, T, V] f32 logits (the tied head)."""
    return self.lm.head_logits(states)

  def encode(self, tokens: jax.Array, mask: jax.Array,
             deterministic: bool = True) -> jax.Array:
    """Unit embeddings [B, E] of texts tokens, mask [B, T] (real tokens
    first): mean encoder-only state over the text tokens; zero if empty."""
    cut = self.cfg.max_tokens
    tokens, mask = tokens[:, :cut], mask[:, :cut]
    ids, real = layout(tokens, mask, "encoder-only")
    states = self.states(ids, real, "encoder-only",
                         deterministic=deterministic)[:, PREFIX:]
    m = mask[..., None].astype(jnp.float32)  # ours: text tokens only
    mean = (states.astype(jnp.float32) * m).sum(1) / jnp.maximum(m.sum(1), 1)
    return jnp.where(mask.any(1)[:, None], _unit(mean), 0.0)

  def __call__(self, tokens, mask, deterministic=True):
    return self.encode(tokens, mask, deterministic)


def build(cfg: UniXcoderConfig) -> UniXcoder:
  return UniXcoder(cfg)


SYSTEM = registry.System(
    name="unixcoder",
    family="retrieval",
    paper="UniXcoder: Unified Cross-Modal Pre-training for Code "
          "Representation",
    summary="One transformer in encoder, decoder and prefix-LM modes set by "
            "a prefix token; MLM/ULM/DNS pretraining, then SimCSE over "
            "comment + flattened AST; mean-pooled embeddings.",
    default_config=UniXcoderConfig,
    builder=build,
    configs=("train.configs.unixcoder:get_config",),
    task="train.tasks.unixcoder:TASK",
    evaluators=("train.tasks.unixcoder:evaluate",),
    claim="eval.claims.unixcoder:check",
    ranker="train.tasks.unixcoder:ranker_for",
    datasets=("train.data.builders.stdlib_code_search:StdlibCodeSearch",
              "train.data.builders.stdlib_bpe:StdlibCodeBpe"),
)


def _texts(texts: Sequence, argument: str) -> list[str]:
  if isinstance(texts, (str, bytes)):
    raise ValueError(f"{argument} must be a sequence of strings, got one "
                     f"string")
  return [t.decode() if isinstance(t, bytes) else str(t) for t in texts]


def _rows(rows: list[list[int]], max_tokens: int
          ) -> tuple[np.ndarray, np.ndarray]:
  """Id lists -> ([N, max_tokens] int32, [N, max_tokens] bool), cut."""
  if not isinstance(max_tokens, int) or max_tokens < 1:
    raise ValueError(f"max_tokens must be an int >= 1, got {max_tokens!r}")
  ids = np.zeros((len(rows), max_tokens), np.int32)
  mask = np.zeros((len(rows), max_tokens), bool)
  for i, row in enumerate(rows):
    row = row[:max_tokens]
    ids[i, :len(row)], mask[i, :len(row)] = row, True
  return ids, mask


def ast_ids(tokenizer, tree) -> list[int]:
  """Token ids of a flattened AST: markers their own, leaves BPE."""
  out = []
  for symbol in ast_flatten.flatten(tree):
    if isinstance(symbol, ast_flatten.Marker):
      out.append(MARKER_IDS[symbol])
    else:  # ours: a leaf is spelled as it follows a space in source
      out += tokenizer.encode(" " + ast_flatten.leaf_text(symbol)).ids
  return out


def function_ids(tokenizer, codes: Sequence[str], form: str,
                 names: Sequence[str] | None = None) -> list[list[int]]:
  """Each function's ids as code tokens ("code") or flattened AST ("ast").

  Raises:
    DataError: a function's source does not parse (naming it from
      `names`, else its index).
  """
  codes = _texts(codes, "codes")
  if form not in FORMS:
    raise ValueError(f"form must be one of {FORMS}, got {form!r}")
  if form == "code":
    return [e.ids for e in tokenizer.encode_batch(codes)] if codes else []
  names = names or [f"function {i}" for i in range(len(codes))]
  return [ast_ids(tokenizer, ast_flatten.function_tree(code, name))
          for code, name in zip(codes, names)]


def text_ids(tokenizer, texts: Sequence[str], max_tokens: int = MAX_TOKENS
             ) -> tuple[np.ndarray, np.ndarray]:
  """Texts (comments, queries) -> ([N, max_tokens] ids, mask), cut."""
  texts = _texts(texts, "texts")
  return _rows([e.ids for e in tokenizer.encode_batch(texts)] if texts
               else [], max_tokens)


def code_ids(tokenizer, codes: Sequence[str], form: str,
             names: Sequence[str] | None = None,
             max_tokens: int = MAX_TOKENS) -> tuple[np.ndarray, np.ndarray]:
  """Functions as ([N, max_tokens] ids, mask) in `form`, cut."""
  return _rows(function_ids(tokenizer, codes, form, names), max_tokens)


def pair_ids(tokenizer, comments: Sequence[str], codes: Sequence[str],
             form: str, names: Sequence[str] | None = None,
             max_tokens: int = MAX_TOKENS) -> tuple[np.ndarray, np.ndarray]:
  """`comment <sep> function` rows (the function in `form`), cut at
  `max_tokens` (what is cut is the function's tail)."""
  comments = [e.ids for e in tokenizer.encode_batch(
      _texts(comments, "comments"))] if len(comments) else []
  functions = function_ids(tokenizer, codes, form, names)
  if len(comments) != len(functions):
    raise ValueError(f"comments and codes must have the same length, got "
                     f"{len(comments)} and {len(functions)}")
  return _rows([c + [SEP] + f for c, f in zip(comments, functions)],
               max_tokens)


def encode_ids(encode, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
  """[N, E] vectors of token rows through a jitted `encode(ids, mask)`,
  in chunks of similar length (`rankers.by_length`)."""
  return rankers.by_length(encode, ids, mask, rows=_ENCODE_ROWS,
                           width_step=_WIDTH_STEP)


def ranker(model: UniXcoder, variables, tokenizer, form: str = "code",
           depth: int = 100) -> rankers.Ranker:
  """Ranks functions (as code tokens or flattened ASTs) by the cosine of
  their embeddings to the queries'."""
  encode = jax.jit(lambda ids, mask: model.apply(variables, ids, mask,
                                                 method="encode"))
  cut = model.cfg.max_tokens

  def rank(texts):
    q = encode_ids(encode, *text_ids(tokenizer, texts.queries, cut))
    d = encode_ids(encode, *code_ids(tokenizer, texts.docs, form,
                                     getattr(texts, "doc_ids", None), cut))
    return rankers.top_indices(q @ d.T, depth)
  return rank
