"""Bit Cipher: the codes, the context sums against brute force, invariance
to corpus size, the PPMI-SVD baseline, and one-line errors."""

import itertools
import math

import numpy as np
import pytest

from zoo.vq import bit_cipher


def _docs(seed: int, vocab: int = 30, num: int = 12) -> list[np.ndarray]:
  """Random documents of Zipf-ish ids (some empty, some short)."""
  rng = np.random.default_rng(seed)
  weights = 1.0 / np.arange(1, vocab + 1)
  return [rng.choice(vocab, size=rng.integers(0, 25), p=weights / weights.sum())
          for _ in range(num)]


def _brute_force_left(docs, vocab, window=bit_cipher.WINDOW) -> np.ndarray:
  """Dense L[w, c]: sum of 1/d over c at distance d <= window before w."""
  left = np.zeros((vocab, vocab))
  for doc in docs:
    for i, j in itertools.combinations(range(len(doc)), 2):
      if j - i <= window:
        left[doc[j], doc[i]] += 1.0 / (j - i)
  return left


@pytest.mark.parametrize("bits", [3, 5, 8])
def test_codes_are_unique_nonzero_and_ordered_by_weight(bits):
  codes = bit_cipher.cipher_codes(2**bits - 1, bits)
  assert len({tuple(c) for c in codes}) == 2**bits - 1
  weights = codes.sum(1)
  assert weights.min() >= 1 and np.all(np.diff(weights) >= 0)
  for w in range(1, bits + 1):
    assert (weights == w).sum() == math.comb(bits, w)


def test_codes_within_a_weight_are_lexicographic():
  codes = bit_cipher.cipher_codes(7, 4)
  np.testing.assert_array_equal(codes, [
      [1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1],
      [1, 1, 0, 0], [1, 0, 1, 0], [1, 0, 0, 1]])


@pytest.mark.parametrize("seed", range(3))
def test_hamming_weight_does_not_decrease_with_frequency_rank(seed):
  rng = np.random.default_rng(seed)
  counts = rng.integers(0, 50, size=40)
  codes = bit_cipher.cipher(counts, bits=6)
  np.testing.assert_allclose(codes.sum(1), 1.0, rtol=1e-6)  # normalised
  weight = (codes > 0).sum(1)
  by_rank = np.lexsort((np.arange(40), -counts))
  assert np.all(np.diff(weight[by_rank]) >= 0)
  assert np.all(np.diff(counts[by_rank]) <= 0)
  assert len({tuple(c) for c in codes}) == 40


@pytest.mark.parametrize("seed", range(3))
def test_cooccurrence_is_the_brute_force_windowed_count(seed):
  docs = _docs(seed)
  left = bit_cipher.cooccurrence(docs, 30)
  np.testing.assert_allclose(left.toarray(), _brute_force_left(docs, 30),
                             atol=1e-12)


@pytest.mark.parametrize("seed", range(3))
def test_sum_mode_is_f_times_cipher(seed):
  docs = _docs(seed)
  counts = bit_cipher.unigram_counts(docs, 30)
  left = bit_cipher.cooccurrence(docs, 30)
  f = _brute_force_left(docs, 30)
  f = f + f.T  # both sides of the window
  codes = bit_cipher.cipher(counts, bits=5).astype(np.float64)
  np.testing.assert_allclose(bit_cipher.aggregate(left, counts, 5, "sum"),
                             f @ codes, atol=1e-9)
  concat = bit_cipher.aggregate(left, counts, 5, "concat")
  np.testing.assert_allclose(concat[:, :5] + concat[:, 5:], f @ codes,
                             atol=1e-9)


@pytest.mark.parametrize("mode", bit_cipher.MODES)
def test_duplicated_corpus_changes_nothing(mode):
  docs = _docs(4)

  def vectors(docs):
    counts = bit_cipher.unigram_counts(docs, 30)
    left = bit_cipher.cooccurrence(docs, 30)
    return bit_cipher.bit_cipher_vectors(left, counts, 6, mode)

  once = vectors(docs)
  assert once.shape == (30, 12 if mode == "concat" else 6)
  np.testing.assert_allclose(vectors(docs + docs), once, atol=1e-5)
  np.testing.assert_array_equal(vectors(docs), once)  # deterministic


def test_vectors_are_standardised_columns():
  docs = _docs(5, num=40)
  counts = bit_cipher.unigram_counts(docs, 30)
  vecs = bit_cipher.bit_cipher_vectors(bit_cipher.cooccurrence(docs, 30),
                                       counts, 6)
  spread = vecs.std(0) > 0
  np.testing.assert_allclose(vecs.mean(0), 0, atol=1e-5)
  np.testing.assert_allclose(vecs.std(0)[spread], 1, atol=1e-4)


def test_ppmi_svd_holds_the_top_singular_values_of_dense_ppmi():
  docs = _docs(6, num=60)
  left = bit_cipher.cooccurrence(docs, 30)
  cooc = (left + left.T).toarray()
  total = cooc.sum()
  rows, cols = cooc.sum(1, keepdims=True), cooc.sum(0, keepdims=True)
  with np.errstate(divide="ignore", invalid="ignore"):
    pmi = np.log(cooc * total / (rows * cols))
  ppmi = np.where(cooc > 0, np.maximum(pmi, 0), 0)
  vecs = bit_cipher.ppmi_svd(left + left.T, dim=4)
  top = np.linalg.svd(ppmi, compute_uv=False)[:4]
  np.testing.assert_allclose((vecs**2).sum(0), top, rtol=1e-4)
  # U sqrt(S) spans PPMI's top singular directions.
  u = np.linalg.svd(ppmi)[0][:, :4]
  unit = vecs / np.linalg.norm(vecs, axis=0)
  np.testing.assert_allclose(np.abs(u.T @ unit), np.eye(4), atol=1e-3)


def test_mean_pool_averages_each_documents_word_vectors():
  vecs = np.random.default_rng(7).normal(size=(30, 4)).astype(np.float32)
  docs = [d for d in _docs(7) if len(d)]
  pooled = bit_cipher.mean_pool(docs, vecs)
  for doc, row in zip(docs, pooled):
    np.testing.assert_allclose(row, vecs[doc].mean(0), rtol=1e-6)


@pytest.mark.parametrize("call,message", [
    (lambda: bit_cipher.cipher_codes(300, 8),
     "300 words needs at least 9 bits"),
    (lambda: bit_cipher.cipher(np.ones(1000), 9),
     "1000 words needs at least 10 bits"),
    (lambda: bit_cipher.mean_pool([np.array([1]), np.array([], np.int64)],
                                  np.ones((3, 2))),
     r"document\(s\) \[1\] are empty"),
    (lambda: bit_cipher.cooccurrence([np.array([0, 5])], 5),
     "ids outside"),
    (lambda: bit_cipher.aggregate(bit_cipher.cooccurrence([], 4),
                                  np.ones(4), 3, "mean"),
     "mode must be one of"),
])
def test_bad_input_is_one_clear_error(call, message):
  with pytest.raises(ValueError, match=message):
    call()
