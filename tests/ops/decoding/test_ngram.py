"""N-gram tables against a Counter over the corpus."""

import collections
import math

import numpy as np
import pytest
from jax import numpy as jnp

from ops.decoding import ngram

V = 6


def corpus(seed=0):
  rng = np.random.default_rng(seed)
  # Skewed ids repeat contexts; short documents test the boundaries.
  return [rng.choice(V, size=n, p=[0.4, 0.25, 0.15, 0.1, 0.07, 0.03])
          for n in (40, 1, 0, 3, 25, 60)]


def counter_reference(docs, max_order=6):
  counts = collections.Counter()
  for doc in docs:
    doc = [int(x) for x in doc]
    for n in range(2, max_order + 1):
      for i in range(len(doc) - n + 1):
        counts[tuple(doc[i:i + n])] += 1
  return counts


def counter_logprob(counts, suffix, token, vocab_size=V,
                    weights=ngram.SPD_WEIGHTS):
  """log sum_n lambda_n C(c v) / sum_u C(c u), c = last n - 1 tokens."""
  prob = 0.0
  for n, weight in zip(range(2, len(weights) + 2), weights):
    context = tuple(suffix[len(suffix) - n + 1:])
    total = sum(counts[context + (u,)] for u in range(vocab_size))
    if total:
      prob += weight * counts[context + (token,)] / total
  return math.log(prob) if prob else -math.inf


def _contexts(counts, length, rng):
  """Every context seen in the corpus, random (mostly unseen) ones, and ones
  that start before the text (-1)."""
  seen = {k[:-1] for k in counts if len(k) == length + 1}
  rand = [tuple(rng.integers(0, V, length)) for _ in range(30)]
  before = [(-1,) * j + tuple(rng.integers(0, V, length - j))
            for j in range(1, length + 1)]
  return np.array(sorted(seen) + rand + before, np.int32)


@pytest.fixture(scope="module")
def table():
  return ngram.build_ngram_table(corpus(), V)


def test_counts_equal_a_counter(table):
  counts = counter_reference(corpus())
  rng = np.random.default_rng(1)
  candidates = jnp.arange(V)
  for length in range(1, 6):
    contexts = _contexts(counts, length, rng)
    got, totals = ngram.ngram_counts(
        table, jnp.asarray(contexts),
        jnp.broadcast_to(candidates, (len(contexts), V)))
    want = np.array([[counts[tuple(c) + (v,)] for v in range(V)]
                     for c in contexts.tolist()])
    np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(totals, want.sum(-1))


def test_logprobs_equal_the_interpolated_counter_estimate(table):
  counts = counter_reference(corpus())
  contexts = _contexts(counts, 5, np.random.default_rng(2))
  got = ngram.ngram_logprobs(table, jnp.asarray(contexts),
                             jnp.broadcast_to(jnp.arange(V), (len(contexts),
                                                              V)))
  want = np.array([[counter_logprob(counts, c, v) for v in range(V)]
                   for c in contexts.tolist()])
  assert np.isinf(want).any() and np.isfinite(want).any()
  np.testing.assert_array_equal(np.isinf(got), np.isinf(want))
  np.testing.assert_allclose(got[np.isfinite(want)], want[np.isfinite(want)],
                             rtol=1e-5)


def test_a_single_array_is_one_document():
  doc = corpus()[0]
  one = ngram.build_ngram_table(doc, V, max_order=3)
  listed = ngram.build_ngram_table([doc], V, max_order=3)
  for a, b in zip(one.counts, listed.counts):
    np.testing.assert_array_equal(a, b)


def test_bad_inputs_are_rejected(table):
  with pytest.raises(ValueError, match="token ids"):
    ngram.build_ngram_table([np.array([0, V])], V)
  with pytest.raises(ValueError, match="max_order"):
    ngram.build_ngram_table([np.array([0, 1])], V, max_order=1)
  with pytest.raises(ValueError, match="weights"):
    ngram.ngram_logprobs(table, jnp.zeros((1, 5), jnp.int32),
                         jnp.zeros((1, 2), jnp.int32), weights=(1.0,))
  with pytest.raises(ValueError, match="suffix"):
    ngram.ngram_logprobs(table, jnp.zeros((1, 3), jnp.int32),
                         jnp.zeros((1, 2), jnp.int32))
