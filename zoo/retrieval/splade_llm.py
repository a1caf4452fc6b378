"""Mistral-SPLADE (Echo-Mistral-SPLADE): SPLADE over a causal LM's vocabulary.

Doshi et al., "Mistral-SPLADE: LLMs for better Learned Sparse Retrieval"
(2024). A decoder LM keeps its causal attention; its head is tied to the
input embedding, so logit j scores token j. A text x is fed echoed,
`<bos> x <eos> <bos> x` (`zoo.retrieval.echo`), and only the second copy is
pooled: there each position has read the whole text. The vector is SPLADE's

    s_j = max_{i in copy 2} log(1 + relu(w_ij)),   score(q, d) = <s_q, s_d>

(`ops.sparse.vocab_pool`: the same values as `splade_pool` of the tied-head
logits, with a backward pass that never builds the [B, T, V] gradient).
Training: InfoNCE over in-batch negatives plus FLOPS on each side with its
own lambda and naver/splade's quadratic warm-up,
`lambda(t) = lambda * min(1, t / T)^2` (`loss`). Without echo (`echo=False`,
the baseline) the input is `<bos> x` and x's positions are pooled.

Choices (ours; the paper fine-tunes Mistral-7B with LoRA on
sentence-transformers pairs):
  - the backbone is the zoo's 2.2M code decoder (`load_target("code")`),
    fully fine-tuned (LoRA: UNVERIFIED, unused);
  - each copy holds at most 96 tokens of the text (longer texts are cut);
  - the reserved ids (pad, bos, eos, mask: `zoo.lm.special_tokens`) are not
    words, so their dimensions are zeroed;
  - InfoNCE at temperature 1 on raw scores, query -> document only (as
    naver/splade), no hard negatives (none are mined here);
  - no top-k at inference: FLOPS alone makes the vectors sparse.
"""

import dataclasses
import functools
import math
from collections.abc import Sequence

import flax.linen as nn
import jax
import numpy as np
import optax
from jax import numpy as jnp

from ops import sparse
from zoo import registry
from zoo.lm import special_tokens
from zoo.lm.decoder import DecoderConfig, DecoderLM
from zoo.retrieval import echo as echo_lib
from zoo.retrieval import rankers

COPY_LEN = 96  # tokens of a text in each copy
_ENCODE_ROWS = 32  # texts per encoding call (one compile per width)
_WIDTH_STEP = 16  # encoding widths are multiples of it


@dataclasses.dataclass(frozen=True)
class SpladeLLMConfig:
  """Attributes:

    decoder: the backbone's config; must match the target's weights and
      tie its head to the embedding.
    target: the trained LM that initialises it (`train.store.lm` name).
    target_smoke: use that target's smoke-sized model (tests).
    echo: feed `<bos> x <eos> <bos> x` and pool copy 2 (else `<bos> x`).
    lambda_q, lambda_d: FLOPS weights of the query and document sides.
    flops_warmup: steps of the quadratic warm-up of both lambdas (0: none).
  """

  decoder: DecoderConfig = DecoderConfig(
      vocab_size=2048, embed_dim=192, num_layers=4, num_heads=3, mlp_dim=512)
  target: str = "code"
  target_smoke: bool = False
  echo: bool = True
  lambda_q: float = 1e-3
  lambda_d: float = 1e-3
  flops_warmup: int = 0

  def __post_init__(self):
    if not self.decoder.tied_embeddings:
      raise ValueError("SpladeLLMConfig: decoder must tie its head to the "
                       "embedding (logit j is token j)")
    for name in ("lambda_q", "lambda_d"):
      value = getattr(self, name)
      if not (isinstance(value, (int, float)) and math.isfinite(value)
              and value >= 0):
        raise ValueError(f"SpladeLLMConfig: {name} must be a finite number "
                         f">= 0, got {value!r}")
    if self.flops_warmup < 0:
      raise ValueError(f"SpladeLLMConfig: flops_warmup must be >= 0, got "
                       f"{self.flops_warmup}")


def model_inputs(tokens: jax.Array, mask: jax.Array, echo: bool
                 ) -> tuple[jax.Array, jax.Array]:
  """What the LM reads and which positions are pooled.

  Args:
    tokens: [B, T] int ids of the texts (no specials); mask: [B, T] bool,
      real tokens first.
    echo: `<bos> x <eos> <bos> x` pooling copy 2, else `<bos> x`.

  Returns:
    ([B, T'] int32 LM input, [B, T'] bool pooled positions); T' = 2T + 3
    with echo, T + 1 without. Padding follows the text, so causal attention
    keeps it out of every pooled position.
  """
  if echo:
    ids, _, pool = echo_lib.echo_tokens(tokens, mask, special_tokens.BOS,
                                        special_tokens.EOS)
    return ids, pool
  bos = jnp.full((tokens.shape[0], 1), special_tokens.BOS, jnp.int32)
  ids = jnp.where(mask, tokens, special_tokens.PAD).astype(jnp.int32)
  return (jnp.concatenate([bos, ids], axis=1),
          jnp.concatenate([jnp.zeros_like(bos, bool), mask], axis=1))


def without_specials(vectors: jax.Array) -> jax.Array:
  """[..., V] vectors with the reserved ids' dimensions set to 0."""
  return vectors.at[..., :len(special_tokens.NAMES)].set(0.0)


def vocab_vectors(logits: jax.Array, pool: jax.Array) -> jax.Array:
  """SPLADE vectors of tied-head logits [B, T, V] over pooled positions
  [B, T] bool: [B, V] float32 >= 0 (what `SpladeLLM.__call__` computes)."""
  return without_specials(sparse.splade_pool(logits, pool))


class SpladeLLM(nn.Module):
  """The LM and SPLADE pooling: `__call__(tokens [B, T], mask [B, T])`
  gives [B, V] vectors; `token_logits` the LM's logits and the pooled
  positions behind them."""

  cfg: SpladeLLMConfig

  def setup(self):
    self.lm = DecoderLM(self.cfg.decoder)

  def __call__(self, tokens, mask):
    ids, pool = model_inputs(tokens, mask, self.cfg.echo)
    states = self.lm.states(ids)  # [B, T', E], final-normed
    table = self.lm.embedding.embedding  # [V, E], the tied head
    return without_specials(sparse.vocab_pool(states, pool, table))

  def token_logits(self, tokens, mask):
    """([B, T', V] tied-head logits, [B, T'] bool pooled positions)."""
    ids, pool = model_inputs(tokens, mask, self.cfg.echo)
    return self.lm(ids), pool


def flops_weight(weight: float, step, warmup: int):
  """naver/splade's quadratic warm-up: weight * min(1, step / warmup)^2."""
  if not warmup:
    return weight
  return weight * jnp.minimum(1.0, step / warmup) ** 2


def loss(q: jax.Array, d: jax.Array, *, lambda_q, lambda_d
         ) -> tuple[jax.Array, dict]:
  """InfoNCE over in-batch documents plus both FLOPS terms.

  Args:
    q: [B, V] query vectors; d: [B, V] their documents' vectors (row i is
      query i's positive, the others its negatives).
    lambda_q, lambda_d: the FLOPS weights at this step.

  Returns:
    (scalar loss, {"info_nce", "flops_q", "flops_d"}).
  """
  scores = sparse.sparse_scores(q, d)  # [B, B]
  ranking = optax.softmax_cross_entropy_with_integer_labels(
      scores, jnp.arange(q.shape[0])).mean()
  flops_q, flops_d = sparse.flops(q), sparse.flops(d)
  total = ranking + lambda_q * flops_q + lambda_d * flops_d
  return total, {"info_nce": ranking, "flops_q": flops_q, "flops_d": flops_d}


SYSTEM = registry.System(
    name="splade_llm",
    family="retrieval",
    paper="Mistral-SPLADE: LLMs for better Learned Sparse Retrieval",
    summary="SPLADE over a causal code LM's tied-head logits, text echoed "
            "(<bos> x <eos> <bos> x), copy 2 pooled; InfoNCE + FLOPS.",
    default_config=SpladeLLMConfig,
    builder=SpladeLLM,
    configs=("train.configs.splade_llm:get_config",),
    task="train.tasks.splade_llm:TASK",
    claim="eval.claims.splade_llm:check",
    ranker="train.tasks.splade_llm:ranker_for",
    datasets=("train.data.builders.stdlib_code_search:StdlibCodeSearch",
              "train.data.builders.stdlib_bpe:StdlibCodeBpe"),
)


def token_ids(tokenizer, texts: Sequence[str], length: int = COPY_LEN
              ) -> tuple[np.ndarray, np.ndarray]:
  """Texts -> ([N, length] int32 ids, [N, length] bool mask), each text's
  first `length` tokens, left-aligned; an empty text has no tokens.

  Args:
    tokenizer: a `tokenizers.Tokenizer` adding no special tokens (the BPE
      of the zoo's LM datasets).
    texts: a sequence of strings (not one string).
    length: tokens kept per text.
  """
  if isinstance(texts, (str, bytes)):
    raise ValueError("token_ids: texts must be a sequence of strings, not "
                     "one string")
  if not isinstance(length, int) or length < 1:
    raise ValueError(f"token_ids: length must be an int >= 1, got "
                     f"{length!r}")
  texts = [t.decode() if isinstance(t, bytes) else str(t) for t in texts]
  ids = np.zeros((len(texts), length), np.int32)
  mask = np.zeros((len(texts), length), bool)
  for i, encoding in enumerate(tokenizer.encode_batch(texts)):
    kept = encoding.ids[:length]
    ids[i, :len(kept)], mask[i, :len(kept)] = kept, True
  return ids, mask


# The model is static: one compile per model and width.
_apply = jax.jit(lambda model, variables, ids, mask: model.apply(
    variables, ids, mask), static_argnums=0)


def encode(model: SpladeLLM, variables, ids: np.ndarray, mask: np.ndarray
           ) -> np.ndarray:
  """[N, V] vectors of token rows [N, L], `_ENCODE_ROWS` at a time.

  Rows go in order of length and each chunk is cut to its longest text
  (rounded up to 16 tokens): padding follows the text and is causal-masked
  out, so cutting it changes nothing but the cost.
  """
  return rankers.by_length(functools.partial(_apply, model, variables), ids,
                           mask, rows=_ENCODE_ROWS, width_step=_WIDTH_STEP)


def ranker(model: SpladeLLM, variables, tokenizer, *, length: int = COPY_LEN,
           depth: int = 100) -> rankers.Ranker:
  """A ranker over texts: SPLADE vectors of both sides, inner products."""
  def rank(texts):
    q = encode(model, variables, *token_ids(tokenizer, texts.queries,
                                            length))
    d = encode(model, variables, *token_ids(tokenizer, texts.docs, length))
    return rankers.top_indices(np.asarray(sparse.sparse_scores(
        jnp.asarray(q), jnp.asarray(d))), depth)
  return rank
