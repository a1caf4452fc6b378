"""Bit Cipher (Zhao & Williams, 2023): word vectors without backpropagation.

Two steps. (1) The cipher: b-bit codes enumerated by increasing Hamming
weight (the b one-hot codes, then the C(b, 2) two-hot codes, ...) are
handed out by unigram frequency, the most frequent word getting the first;
each code is normalised to sum 1. (2) Context vectors: F counts co-occurring
words within a +-5 window, each pair weighted 1/distance; a word's vector
aggregates its contexts' codes, `F @ Cipher`, then log1p and per-dimension
standardisation over the vocabulary.

    counts = unigram_counts(docs, vocab_size)      # [V]
    left = cooccurrence(docs, vocab_size)          # sparse [V, V]
    vecs = bit_cipher_vectors(left, counts, bits=32)  # [V, 64], concat mode
    doc_vecs = mean_pool(docs, vecs)

No code was published; every choice below is ours ([recon] in the notes):
* Within a Hamming weight, codes go in lexicographic order of their set
  positions (`itertools.combinations`); frequency ties go to the lower id.
* Modes: "sum" gives v_w = F_w @ Cipher (b dims); "concat" (default)
  concatenates the left-context and right-context aggregates, [L_w @ Cipher,
  R_w @ Cipher] (2b dims), with L_wc the weighted count of c to the left of
  w and R = L^T.
* Counts are taken per million corpus tokens before log1p, so the vectors
  depend on the corpus's proportions, not its size (a duplicated corpus
  gives the same vectors).
* Columns with zero spread stay 0 after standardisation.

The PPMI-SVD baseline shares the counts: `ppmi_svd(left + left.T, dim)`.
"""

import itertools
import math
from collections.abc import Sequence

import numpy as np
from scipy import sparse

from zoo import registry

WINDOW = 5
MODES = ("concat", "sum")
_PER_TOKENS = 1e6


def smallest_bits(num_words: int) -> int:
  """The fewest bits whose 2^b - 1 non-zero codes cover `num_words`."""
  return max(1, math.ceil(math.log2(num_words + 1)))


def cipher_codes(num_words: int, bits: int) -> np.ndarray:
  """[num_words, bits] float32 0/1 codes in hand-out order: by increasing
  Hamming weight, lexicographic (set positions) within a weight.

  Raises:
    ValueError: more words than the 2^bits - 1 non-zero codes.
  """
  if bits < 1:
    raise ValueError(f"bit_cipher: bits must be >= 1, got {bits}")
  if num_words > 2**bits - 1:
    raise ValueError(f"bit_cipher: a vocabulary of {num_words} words needs "
                     f"at least {smallest_bits(num_words)} bits (2^b - 1 >= "
                     f"{num_words}), got bits={bits}")
  codes = np.zeros((num_words, bits), np.float32)
  positions = itertools.chain.from_iterable(
      itertools.combinations(range(bits), w) for w in range(1, bits + 1))
  for row, ones in zip(range(num_words), positions):
    codes[row, list(ones)] = 1.0
  return codes


def cipher(counts: np.ndarray, bits: int) -> np.ndarray:
  """[V, bits] float32: each word's code, normalised to sum 1.

  Args:
    counts: [V] unigram counts; rank 0 (the first code) is the most
      frequent word, ties to the lower id.
    bits: b.
  """
  counts = np.asarray(counts)
  if counts.ndim != 1:
    raise ValueError(f"bit_cipher: counts must be [V], got {counts.shape}")
  rank_order = np.lexsort((np.arange(len(counts)), -counts))  # by rank
  codes = np.empty((len(counts), bits), np.float32)
  codes[rank_order] = cipher_codes(len(counts), bits)
  return codes / codes.sum(1, keepdims=True)


def _check_docs(docs: Sequence[np.ndarray], vocab_size: int) -> None:
  for i, doc in enumerate(docs):
    doc = np.asarray(doc)
    if doc.ndim != 1 or not np.issubdtype(doc.dtype, np.integer):
      raise ValueError(f"bit_cipher: document {i} must be a 1-d array of "
                       f"int ids, got {doc.dtype} {doc.shape}")
    if doc.size and (doc.min() < 0 or doc.max() >= vocab_size):
      raise ValueError(f"bit_cipher: document {i} holds ids outside [0, "
                       f"{vocab_size})")


def unigram_counts(docs: Sequence[np.ndarray], vocab_size: int
                   ) -> np.ndarray:
  """[V] int64 occurrences of each id."""
  _check_docs(docs, vocab_size)
  flat = np.concatenate([np.asarray(d, np.int64) for d in docs] or [[]])
  return np.bincount(flat.astype(np.int64), minlength=vocab_size)


def cooccurrence(docs: Sequence[np.ndarray], vocab_size: int,
                 window: int = WINDOW) -> sparse.csr_matrix:
  """Left-context counts L [V, V] float64, within documents:
  L[w, c] = sum over occurrences of c at distance d <= window before w of
  1/d. The right-context counts are L^T."""
  if window < 1:
    raise ValueError(f"bit_cipher: window must be >= 1, got {window}")
  _check_docs(docs, vocab_size)
  tokens = np.concatenate([np.asarray(d, np.int64) for d in docs] or [[]])
  doc_of = np.repeat(np.arange(len(docs)), [len(d) for d in docs])
  rows, cols, weights = [], [], []
  for d in range(1, window + 1):
    same = doc_of[d:] == doc_of[:-d]
    rows.append(tokens[d:][same])
    cols.append(tokens[:-d][same])
    weights.append(np.full(int(same.sum()), 1.0 / d))
  rows, cols, weights = (np.concatenate(a) for a in (rows, cols, weights))
  return sparse.coo_matrix((weights, (rows, cols)),
                           shape=(vocab_size, vocab_size)).tocsr()


def standardize(x: np.ndarray) -> np.ndarray:
  """Columns to mean 0, standard deviation 1 (columns with none stay 0)."""
  std = x.std(0)
  return (x - x.mean(0)) / np.where(std > 0, std, 1.0)


def aggregate(left: sparse.spmatrix, counts: np.ndarray, bits: int,
              mode: str = "concat") -> np.ndarray:
  """The raw context sums: [V, bits] F @ Cipher with F = L + L^T ("sum"),
  or [V, 2 * bits] [L @ Cipher, L^T @ Cipher] ("concat"); float64.

  Args:
    left: [V, V] left-context counts L (`cooccurrence`).
    counts: [V] unigram counts (ranks for the cipher).
    bits: b.
    mode: "concat" or "sum" (module docstring).
  """
  if mode not in MODES:
    raise ValueError(f"bit_cipher: mode must be one of {MODES}, got "
                     f"{mode!r}")
  if left.shape != (len(counts), len(counts)):
    raise ValueError(f"bit_cipher: left must be [V, V] with V = "
                     f"{len(counts)} (counts), got {left.shape}")
  codes = cipher(counts, bits).astype(np.float64)
  left = sparse.csr_matrix(left, dtype=np.float64)
  if mode == "sum":
    return np.asarray((left + left.T) @ codes)
  return np.concatenate([left @ codes, left.T @ codes], axis=1)


def bit_cipher_vectors(left: sparse.spmatrix, counts: np.ndarray, bits: int,
                       mode: str = "concat") -> np.ndarray:
  """[V, 2 * bits] ("concat") or [V, bits] ("sum") float32 word vectors:
  `aggregate`, per million corpus tokens, log1p, standardised.

  Args:
    left: [V, V] left-context counts (`cooccurrence`).
    counts: [V] unigram counts (ranks for the cipher; their total is the
      corpus size the counts are scaled by).
    bits: b.
    mode: "concat" or "sum" (module docstring).
  """
  agg = aggregate(left, counts, bits, mode)
  scale = _PER_TOKENS / max(int(np.sum(counts)), 1)
  return standardize(np.log1p(scale * agg)).astype(np.float32)


def ppmi_svd(cooc: sparse.spmatrix, dim: int, seed: int = 0) -> np.ndarray:
  """[V, dim] float32 PPMI-SVD vectors, U_d sqrt(S_d), of a [V, V] count
  matrix (the baseline; plain PMI, no context smoothing)."""
  from scipy.sparse import linalg  # noqa: PLC0415

  m = sparse.coo_matrix(cooc, dtype=np.float64)
  if not 1 <= dim < min(m.shape):
    raise ValueError(f"ppmi_svd: dim must be in [1, {min(m.shape) - 1}], "
                     f"got {dim}")
  rows, cols = np.asarray(m.sum(1)).ravel(), np.asarray(m.sum(0)).ravel()
  pmi = np.log(m.data * m.sum() / (rows[m.row] * cols[m.col]))
  keep = pmi > 0
  ppmi = sparse.csr_matrix((pmi[keep], (m.row[keep], m.col[keep])),
                           shape=m.shape)
  v0 = np.random.default_rng(seed).standard_normal(min(m.shape))
  u, s, _ = linalg.svds(ppmi, k=dim, v0=v0)
  order = np.argsort(-s)
  return (u[:, order] * np.sqrt(s[order])).astype(np.float32)


def mean_pool(docs: Sequence[np.ndarray], vectors: np.ndarray) -> np.ndarray:
  """[N, d] the mean of each document's word vectors.

  Raises:
    ValueError: a document is empty or holds ids outside the vectors.
  """
  _check_docs(docs, len(vectors))
  empty = [i for i, d in enumerate(docs) if len(d) == 0]
  if empty:
    raise ValueError(f"mean_pool: document(s) {empty[:5]} are empty (no "
                     f"word to average)")
  return np.stack([vectors[np.asarray(d)].mean(0) for d in docs])


SYSTEM = registry.System(
    name="bit_cipher",
    family="vq",
    paper="Bit Cipher: A Simple yet Powerful Word Representation System "
          "that Integrates Efficiently with Language Models",
    summary="Frequency-ranked sparse binary codes aggregated over "
            "co-occurrences: word vectors with no backpropagation.",
    claim="eval.claims.bit_cipher:check",
    datasets=("train.data.builders.stdlib_text:StdlibText",
              "train.data.builders.stdlib_bpe:StdlibTextBpe"),
)
