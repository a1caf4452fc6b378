"""VDR: vocabulary-space retrieval on frozen MiniLM states.

Zhou et al., "Retrieval-based Disentangled Representation Learning with
Natural Language Supervision" (ICLR 2024), after jzhoubu/VDR
`src/ir/encoder/vdr.py` and `src/ir/training/loss_utils.py`. A text's
vector lives in the vocabulary: LayerNorm(token states) @ E[999:]^T (MiniLM's
word embeddings without the [unused]/special rows: 29,523 dimensions, one
per word piece), elu(x) + 1 (> 0), max-pooled over real tokens
(`ops.sparse.vocab_pool`, whose backward pass touches only each dimension's
winning token). At inference each side keeps its top 768
entries OR the dimensions of its own tokens (bag of words), and the score is
the inner product (`ops.sparse.sparse_scores`); `explain` lists the words
that make a score. Training uses VDR's "semi" loss: the mean of the NLL of
(topk(q), p), (q, topk(p)), (BoW(q), p) and (q, BoW(p)).

Budget choices (ours; the paper fine-tunes two BERT-base encoders):
  - MiniLM stays frozen. Passages use a fixed LayerNorm (unit scale, zero
    bias) and are encoded once; queries train a 384x384 adapter (identity
    at init) and a LayerNorm, so the untrained query encoder equals the
    passage one;
  - scores in the loss are raw inner products (temperature 1; UNVERIFIED:
    we did not read VDR's loss code, and untrained scores here are in the
    thousands, so its softmax is nearly hard); the symmetric
    p -> q terms are used where each passage has one query in the batch
    (code search), not on LIMIT, where 46 passages are shared by all queries;
  - the baseline `head="mean"` is the same states and adapter, mean-pooled
    and L2-normalised, InfoNCE at temperature 0.05 (MNRL's scale 20).
"""

import dataclasses
from collections.abc import Sequence

import flax.linen as nn
import jax
import numpy as np
import optax
from jax import numpy as jnp

from ops import sparse
from zoo import registry

VOCAB_OFFSET = 999
TOPK = 768
HEADS = ("vocab", "mean")
_LN_EPS = 1e-12  # BERT's
_PASSAGE_CHUNK = 8  # passages per vocabulary projection: [8, L, 29523] f32


@dataclasses.dataclass(frozen=True)
class VDRConfig:
  """Attributes:

    hidden: width of the frozen encoder's states (MiniLM: 384).
    head: "vocab" (VDR) or "mean" (the dense baseline).
    topk: entries kept per side at inference and in the semi loss.
    temperature: scores are divided by it in the loss.
    vocab_rows: vocabulary dimensions V (MiniLM: 30,522 - 999).
  """

  hidden: int = 384
  head: str = "vocab"
  topk: int = TOPK
  temperature: float = 1.0
  vocab_rows: int = 30_522 - VOCAB_OFFSET

  def __post_init__(self):
    if self.head not in HEADS:
      raise ValueError(f"VDRConfig: head must be one of {HEADS}, got "
                       f"{self.head!r}")
    if self.topk < 1 or not np.isfinite(self.temperature) or (
        self.temperature <= 0):
      raise ValueError(f"VDRConfig: need topk >= 1 and a finite temperature "
                       f"> 0, got {self.topk}, {self.temperature}")


def dense_config() -> VDRConfig:
  return VDRConfig(head="mean", temperature=0.05)


def layer_norm(x: jax.Array) -> jax.Array:
  """LayerNorm without parameters over the last axis."""
  mean = x.mean(-1, keepdims=True)
  var = jnp.square(x - mean).mean(-1, keepdims=True)
  return (x - mean) * jax.lax.rsqrt(var + _LN_EPS)


def vocab_pool(states: jax.Array, mask: jax.Array, vocab: jax.Array
               ) -> jax.Array:
  """[B, L, H] normalised states, [B, L] mask, [V, H] rows -> [B, V] > 0."""
  return sparse.vocab_pool(states, mask, vocab, activation="elu1p")


def unit_mean(states: jax.Array, mask: jax.Array) -> jax.Array:
  """[B, L, H] states, [B, L] mask -> [B, H] masked means, L2-normalised."""
  m = mask[..., None].astype(jnp.float32)
  mean = (states.astype(jnp.float32) * m).sum(1) / jnp.maximum(m.sum(1), 1.0)
  return mean / jnp.maximum(jnp.linalg.norm(mean, axis=-1, keepdims=True),
                            1e-12)


class VDRQueryEncoder(nn.Module):
  """The trained query side: adapter, then the VDR head or mean pooling.

  `__call__(states [B, L, H], mask [B, L], vocab [V, H])` gives [B, V]
  vocabulary vectors (head "vocab") or [B, H] unit vectors (head "mean").
  """

  cfg: VDRConfig

  @nn.compact
  def __call__(self, states, mask, vocab):
    h = nn.Dense(self.cfg.hidden, use_bias=False, name="adapter",
                 kernel_init=lambda key, shape, dtype: jnp.eye(*shape,
                                                               dtype=dtype)
                 )(states.astype(jnp.float32))
    if self.cfg.head == "mean":
      return unit_mean(h, mask)
    h = nn.LayerNorm(epsilon=_LN_EPS, name="layer_norm")(h)
    return vocab_pool(h, mask, vocab)


class VDRModel(nn.Module):
  """What `python -m train` builds: the query encoder, with the vocabulary
  rows [V, H] as a fixed "constants" collection (filled from MiniLM by the
  task) and the passage side beside it.
  """

  cfg: VDRConfig

  def setup(self):
    self.query_encoder = VDRQueryEncoder(self.cfg)
    self.vocab = self.variable("constants", "vocab", jnp.zeros,
                               (self.cfg.vocab_rows, self.cfg.hidden),
                               jnp.float32)

  def __call__(self, states, mask):
    """Query vectors of [B, L, H] states: [B, V] (vocab) or [B, H] (mean)."""
    return self.query_encoder(states, mask, self.vocab.value)

  def encode_passages(self, states, mask):
    """Fixed passage vectors: fixed-LayerNorm VDR, or the unit mean."""
    if self.cfg.head == "mean":
      return unit_mean(states, mask)
    return vocab_pool(layer_norm(states.astype(jnp.float32)), mask,
                      self.vocab.value)


SYSTEM = registry.System(
    name="vdr",
    family="retrieval",
    paper="Retrieval-based Disentangled Representation Learning with "
          "Natural Language Supervision (VDR)",
    summary="Frozen MiniLM states into the 29,523-word vocabulary (elu+1, "
            "max-pool), top-768 OR bag-of-words; the query side trains.",
    default_config=VDRConfig,
    builder=VDRModel,
    configs=("train.configs.vdr:get_config",),
    task="train.tasks.vdr_semi:TASK",
    claim="eval.claims.vdr:check",
    datasets=("train.data.builders.limit_small:LimitSmall",
              "train.data.builders.stdlib_code_search_minilm:"
              "StdlibCodeSearchMinilm"),
)


def vocab_rows(encoder) -> np.ndarray:
  """MiniLM's word embeddings from id 999 on: [29523, H] float32."""
  table = encoder.params["embeddings"]["word_embeddings"]["embedding"]
  return np.asarray(table, np.float32)[VOCAB_OFFSET:]


_passage_pool = jax.jit(lambda s, m, v: vocab_pool(layer_norm(s), m, v))


def passage_vectors(states: np.ndarray, mask: np.ndarray, vocab: np.ndarray
                    ) -> np.ndarray:
  """Fixed-LayerNorm VDR vectors of frozen states, a few rows at a time.

  Rows are taken in order of length and each chunk is cut to its longest
  text (rounded up to 8 tokens): padding costs a full [V]-wide projection
  per position otherwise, and takes no part in the max-pool.

  Args:
    states: [N, L, H] token states (zero at padding); mask: [N, L] bool,
      real tokens first.
    vocab: [V, H] vocabulary rows.

  Returns:
    [N, V] float32 vectors, > 0 for every text with a token.
  """
  states = np.asarray(states, np.float32)
  mask = np.asarray(mask, bool)
  lengths = mask.sum(1)
  order = np.argsort(lengths, kind="stable")
  vocab = jnp.asarray(vocab)
  out = np.zeros((len(states), vocab.shape[0]), np.float32)
  for start in range(0, len(order), _PASSAGE_CHUNK):
    rows = order[start:start + _PASSAGE_CHUNK]
    width = min(-(-max(int(lengths[rows].max()), 1) // 8) * 8,
                states.shape[1])
    pad = _PASSAGE_CHUNK - len(rows)  # one row count: one compile per width
    out[rows] = np.asarray(_passage_pool(
        np.pad(states[rows, :width], ((0, pad), (0, 0), (0, 0))),
        np.pad(mask[rows, :width], ((0, pad), (0, 0))), vocab))[:len(rows)]
  return out


def bag_of_words(encoder, texts: Sequence[str]) -> np.ndarray:
  """[N, V] binary bag of words of texts in the vocabulary space."""
  batch = encoder.tokenize(texts)
  return np.asarray(sparse.bow(jnp.asarray(batch["input_ids"]),
                               jnp.asarray(batch["attention_mask"] > 0),
                               vocab_size=encoder.config.vocab_size
                               - VOCAB_OFFSET, offset=VOCAB_OFFSET))


def inference_mask(vectors: jax.Array, bow: jax.Array, k: int = TOPK
                   ) -> jax.Array:
  """Entries kept at inference: the top k OR the text's own words."""
  return sparse.topk_mask(jnp.asarray(vectors), k) | (jnp.asarray(bow) > 0)


def scores(q, q_bow, d, d_bow, k: int = TOPK) -> np.ndarray:
  """VDR scores [Q, N]: top-k OR bag of words on both sides, inner product.
  """
  return np.asarray(sparse.sparse_scores(
      jnp.asarray(q), jnp.asarray(d), inference_mask(q, q_bow, k),
      inference_mask(d, d_bow, k)))


def vocab_words(encoder) -> list[str]:
  """The word piece of each of the V dimensions (id - 999)."""
  return [encoder.tokenizer.id_to_token(i) for i in range(
      VOCAB_OFFSET, encoder.config.vocab_size)]


def explain(q: np.ndarray, d: np.ndarray, words: Sequence[str],
            top: int = 10) -> list[tuple[str, float]]:
  """The words that make a score: the largest entries of q * d.

  Args:
    q, d: [V] one query's and one passage's kept vectors (masked entries 0);
      their inner product is the score, the sum of all q * d entries.
    words: [V] the word of each dimension (`vocab_words`).
    top: entries listed.

  Returns:
    (word, contribution) pairs, largest first.
  """
  contribution = np.asarray(q, np.float64) * np.asarray(d, np.float64)
  order = np.argsort(-contribution, kind="stable")[:top]
  return [(words[i], float(contribution[i])) for i in order]


def _nll(a, b, labels, temperature, symmetric):
  logits = a @ b.T / temperature  # [B, N]
  loss = optax.softmax_cross_entropy_with_integer_labels(logits, labels)
  if symmetric:  # p -> q over the batch's queries; labels = arange(B)
    loss = (loss + optax.softmax_cross_entropy_with_integer_labels(
        logits.T, labels)) / 2
  return loss.mean()


def semi_loss(q, q_bow, p, p_bow, labels, *, k: int = TOPK,
              temperature: float = 1.0, symmetric: bool = False):
  """VDR's semi-parametric loss, the mean of four NLL terms.

  Args:
    q: [B, V] query vectors; q_bow: [B, V] their bags of words.
    p: [N, V] passage vectors; p_bow: [N, V] their bags of words.
    labels: [B] int, the passage index of each query's positive.
    k: entries kept by the top-k terms (gradient flows to kept entries).
    temperature: scores are divided by it.
    symmetric: add the p -> q direction (needs N = B, labels = arange(B)).

  Returns:
    The scalar loss.
  """
  def top(x):
    return jnp.where(sparse.topk_mask(jax.lax.stop_gradient(x), k), x, 0.0)

  pairs = ((top(q), p), (q, top(p)), (q_bow, p), (q, p_bow))
  return sum(_nll(a, b, labels, temperature, symmetric)
             for a, b in pairs) / len(pairs)


def info_nce(q, p, labels, *, temperature: float = 0.05,
             symmetric: bool = False):
  """The dense baseline's loss: InfoNCE over unit vectors q [B, H], p [N, H].
  """
  return _nll(q, p, labels, temperature, symmetric)
