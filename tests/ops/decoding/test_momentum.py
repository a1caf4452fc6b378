"""Momentum decoding: greedy when the resistance is off, repetition lengths
against a pure-Python reference, no repeated 5-gram with the released table.
"""

import functools

import jax
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jax import numpy as jnp

from ops.decoding.momentum import (
    momentum_generate,
    repetition_lengths,
    soft_ngram_table,
)
from ops.decoding.sampling import generate
from zoo.lm.decoder import CachedLM, DecoderConfig, DecoderLM
from zoo.lm.table import TableLM

HISTORY, VOCAB = 24, 4


def _reference_length(history, candidate, max_n):
  """L(c) straight from its definition."""
  if candidate not in history:
    return 0
  best = 1
  for n in range(2, max_n + 1):
    if len(history) < n - 1:
      break
    gram = history[len(history) - n + 1:] + [candidate]
    for end in range(n - 1, len(history)):
      if history[end - n + 1:end + 1] == gram:
        best = n
  return best


@functools.partial(jax.jit, static_argnames="max_n")
def _lengths(history, length, max_n):
  return repetition_lengths(history, length, VOCAB, max_n)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.lists(st.integers(0, VOCAB - 1), max_size=HISTORY),
                min_size=2, max_size=2),
       st.sampled_from([2, 5]))
def test_repetition_length_matches_the_definition(rows, max_n):
  history = np.zeros((2, HISTORY), np.int32)
  for i, row in enumerate(rows):
    history[i, :len(row)] = row
    # Tokens past the length must not count.
    history[i, len(row):] = np.arange(HISTORY - len(row)) % VOCAB
  got = _lengths(jnp.asarray(history), jnp.array([len(r) for r in rows]),
                 max_n)
  want = [[_reference_length(row, c, max_n) for c in range(VOCAB)]
          for row in rows]
  np.testing.assert_array_equal(got, want)


@functools.cache
def _looping_table_lm():
  """Low temperature: greedy falls into loops, so the resistance acts."""
  return TableLM.random(jax.random.key(0), 16, order=2, temperature=0.3)


@functools.cache
def _decoder_lm():
  module = DecoderLM(DecoderConfig(vocab_size=16, embed_dim=16, num_layers=2,
                                   num_heads=2, mlp_dim=32))
  tokens = jnp.zeros((1, 4), jnp.int32)
  params = jax.jit(module.init)(jax.random.key(1), tokens)["params"]
  return CachedLM(params, module)


def _prompt(seed, vocab=16):
  return jax.random.randint(jax.random.key(seed), (3, 5), 0, vocab)


@pytest.mark.parametrize("make_lm", [_looping_table_lm, _decoder_lm])
def test_without_resistance_it_is_greedy(make_lm):
  lm, prompt = make_lm(), _prompt(1)
  greedy = generate(lm, prompt, 24).tokens
  for kwargs in (dict(alpha=0.0), dict(resistance=(0.0,) * 6),
                 dict(top_k=1)):
    got = momentum_generate(lm, prompt, 24, **kwargs)
    np.testing.assert_array_equal(got.tokens, greedy)
    assert int(got.forward_calls) == 24
  # Not vacuous: with the released resistance the output changes.
  assert np.any(momentum_generate(lm, prompt, 24).tokens != greedy)


def test_without_resistance_it_is_greedy_where_a_candidate_repeats_a_5gram():
  # After 1 2 3 4 5 1 2 3 4 the greedy choice is 6, the runner-up 5 would
  # repeat the 5-gram 1 2 3 4 5: its resistance in the released table is
  # inf, and alpha = 0 must not make it 0 * inf = nan (argmax picks nan).
  logits = np.zeros((8, 8), np.float32)
  logits[4, 6], logits[4, 5] = 2.0, 1.0
  lm = TableLM(jnp.asarray(logits))
  prompt = jnp.array([[1, 2, 3, 4, 5, 1, 2, 3, 4]])
  got = momentum_generate(lm, prompt, 3, top_k=2, alpha=0.0)
  np.testing.assert_array_equal(got.tokens, generate(lm, prompt, 3).tokens)
  assert int(got.tokens[0, 0]) == 6
  # Not vacuous: the runner-up meets the table's inf entry.
  assert int(repetition_lengths(prompt, jnp.array([9]), 8)[0, 5]) == 5


def _repeated_ngram_ends(sequence, start, n):
  """Positions >= start where an n-gram ends that occurred before."""
  seen, repeats = set(), []
  for end in range(n - 1, len(sequence)):
    gram = tuple(sequence[end - n + 1:end + 1])
    if gram in seen and end >= start:
      repeats.append(end)
    seen.add(gram)
  return repeats


def test_released_table_with_all_candidates_blocks_repeated_5grams():
  lm, prompt = _looping_table_lm(), _prompt(2)
  # 5 + 14 tokens hold under 16 occurrences of any 4-gram, so some candidate
  # of the V = 16 always completes a fresh 5-gram.
  got = momentum_generate(lm, prompt, 14, top_k=16)
  for p_row, row in zip(np.asarray(prompt), np.asarray(got.tokens)):
    assert not _repeated_ngram_ends(list(p_row) + list(row), 5, 5)
  greedy = np.asarray(generate(lm, prompt, 14).tokens)
  assert any(_repeated_ngram_ends(list(row), 0, 5) for row in greedy)


def test_soft_ngram_penalty_avoids_repeated_ngrams():
  lm, prompt = _looping_table_lm(), _prompt(3)
  # p - 2 < 0 <= p: a repeated trigram only wins if every candidate repeats
  # one, impossible with 5 + 12 tokens (under 16 occurrences of a bigram).
  got = momentum_generate(lm, prompt, 12, top_k=16, alpha=1.0,
                          resistance=soft_ngram_table(3, 2.0))
  for p_row, row in zip(np.asarray(prompt), np.asarray(got.tokens)):
    assert not _repeated_ngram_ends(list(p_row) + list(row), 5, 3)


def test_bad_arguments():
  lm, prompt = _looping_table_lm(), _prompt(1)
  with pytest.raises(ValueError, match="top_k"):
    momentum_generate(lm, prompt, 4, top_k=17)
  with pytest.raises(ValueError, match="resistance"):
    momentum_generate(lm, prompt, 4, resistance="nope")
  with pytest.raises(ValueError, match="n must be"):
    soft_ngram_table(1)
