"""Beam search and diverse beam search against brute force and a reference.

The reference is a plain-Python beam search with the Hugging Face rules
(top 2W candidates, the first W that do not end stay alive, ended ones
within the top W join a per-group pool of W) and the Hamming penalty of
diverse beam search; plain beam search is its one-group case.
"""

import functools
import itertools

import jax
import numpy as np
import pytest
from jax import numpy as jnp

from ops.decoding.beam import beam_search
from ops.decoding.diverse_beam import diverse_beam_search
from zoo.lm.decoder import CachedLM, DecoderConfig, DecoderLM
from zoo.lm.table import TableLM


def _trigram(seed, vocab, temperature=1.0):
  lm = TableLM.random(jax.random.key(seed), vocab, order=3,
                      temperature=temperature)
  logits = np.asarray(lm.logits, np.float64)
  log_probs = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
  return lm, lambda seq: log_probs[seq[-2] if len(seq) > 1 else vocab,
                                   seq[-1]]


def _prompts(seed, batch, length, vocab):
  return jax.random.randint(jax.random.key(seed), (batch, length), 0, vocab)


def _brute_force(next_log_probs, prompt_row, vocab, steps):
  """(log-prob, sequence) of all V**T continuations, best first."""
  scored = []
  for seq in itertools.product(range(vocab), repeat=steps):
    context, total = list(prompt_row), 0.0
    for token in seq:
      total += next_log_probs(context)[token]
      context.append(token)
    scored.append((total, seq))
  return sorted(scored, key=lambda s: -s[0])


def _reference(next_log_probs, prompt_row, vocab, steps, num_groups, width,
               penalty, eos, length_penalty):
  """Diverse beam search in Python; returns [(score, log-prob, seq)]."""
  # A hypothesis: (score, log-prob, new tokens).
  alive = [[(0.0, 0.0, ())] for _ in range(num_groups)]
  pools = [[] for _ in range(num_groups)]
  for step in range(steps):
    counts = np.zeros(vocab)
    for g in range(num_groups):
      cands = []
      for score, log_prob, seq in alive[g]:
        lp = next_log_probs(list(prompt_row) + list(seq))
        for v in range(vocab):
          cands.append((score + lp[v] - penalty * counts[v],
                        log_prob + lp[v], seq + (v,)))
      cands = sorted(cands, key=lambda c: -c[0])[:2 * width]
      for rank, cand in enumerate(cands):
        if cand[2][-1] == eos and rank < width:
          pools[g].append((cand[0] / (step + 1) ** length_penalty, *cand[1:]))
      alive[g] = [c for c in cands if c[2][-1] != eos][:width]
      for c in alive[g]:
        counts[c[2][-1]] += 1
  out = []
  for g in range(num_groups):
    final = pools[g] + [(s / steps ** length_penalty, lp, seq)
                        for s, lp, seq in alive[g]]
    out.extend(sorted(final, key=lambda c: -c[0])[:width])
  return out


def _check_hypotheses(result, row, want):
  """The row's hypotheses equal `want` [(score, log-prob, seq)]."""
  tokens = np.asarray(result.tokens[row])
  lengths = np.asarray(result.lengths[row])
  assert len(want) == len(tokens)
  for i, (score, log_prob, seq) in enumerate(want):
    assert lengths[i] == len(seq)
    assert tuple(tokens[i, :len(seq)]) == seq
    assert not np.any(tokens[i, len(seq):])  # PAD after the EOS
    np.testing.assert_allclose(result.scores[row, i], score, rtol=1e-5)
    np.testing.assert_allclose(result.log_probs[row, i], log_prob,
                               rtol=1e-5)


@pytest.mark.parametrize("vocab,steps", [(3, 3), (4, 2)])
def test_wide_beam_search_equals_brute_force(vocab, steps):
  lm, next_log_probs = _trigram(vocab, vocab)
  prompt = _prompts(1, 2, 2, vocab)
  width = vocab ** (steps - 1)  # keeps every prefix: exact top W
  got = beam_search(lm, prompt, steps, num_beams=width, length_penalty=0.0)
  assert int(got.forward_calls) == steps
  for row in range(2):
    best = _brute_force(next_log_probs, np.asarray(prompt[row]), vocab,
                        steps)[:width]
    _check_hypotheses(got, row, [(s, s, seq) for s, seq in best])


def test_beam_search_on_a_decoder_lm_equals_brute_force():
  vocab, steps = 5, 3
  module = DecoderLM(DecoderConfig(vocab_size=vocab, embed_dim=16,
                                   num_layers=2, num_heads=2, mlp_dim=32))
  tokens = jnp.zeros((1, 4), jnp.int32)
  params = jax.jit(module.init)(jax.random.key(0), tokens)["params"]
  lm = CachedLM(params, module)
  prompt = _prompts(2, 1, 3, vocab)
  seqs = np.array(list(itertools.product(range(vocab), repeat=steps)))
  full = np.concatenate([np.repeat(np.asarray(prompt), len(seqs), 0), seqs],
                        1)
  logits = jax.jit(lambda lm, x: lm(x))(lm, jnp.asarray(full))
  logits = np.asarray(logits, np.float64)[:, 2:-1]
  logp = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
  totals = np.take_along_axis(logp, seqs[..., None], -1)[..., 0].sum(-1)
  best = np.argsort(-totals, kind="stable")[:vocab ** (steps - 1)]
  got = beam_search(lm, prompt, steps, num_beams=len(best),
                    length_penalty=0.0)
  np.testing.assert_array_equal(got.tokens[0], seqs[best])
  np.testing.assert_allclose(got.log_probs[0], totals[best], rtol=1e-4)


def test_beam_search_with_eos_matches_the_reference():
  vocab, steps, width, eos = 5, 5, 3, 2
  lm, next_log_probs = _trigram(3, vocab, temperature=0.5)
  prompt = _prompts(4, 3, 2, vocab)
  got = beam_search(lm, prompt, steps, num_beams=width, length_penalty=1.0,
                    eos_id=eos)
  ended = 0
  for row in range(3):
    want = _reference(next_log_probs, np.asarray(prompt[row]), vocab, steps,
                      1, width, 0.0, eos, 1.0)
    _check_hypotheses(got, row, want)
    ended += sum(len(seq) < steps for _, _, seq in want)
  assert ended  # the pool was exercised


def test_diverse_beam_search_matches_the_reference():
  vocab, steps, groups, width, eos = 6, 4, 2, 2, 2
  lm, next_log_probs = _trigram(5, vocab, temperature=0.5)
  prompt = _prompts(6, 3, 2, vocab)
  got = diverse_beam_search(lm, prompt, steps, num_beams=groups * width,
                            num_groups=groups, diversity_penalty=0.7,
                            eos_id=eos)
  for row in range(3):
    _check_hypotheses(got, row, _reference(
        next_log_probs, np.asarray(prompt[row]), vocab, steps, groups, width,
        0.7, eos, 1.0))


@functools.cache
def _table_case():
  lm, _ = _trigram(7, 11)
  return lm, _prompts(8, 3, 3, 11)


def test_one_group_is_beam_search():
  lm, prompt = _table_case()
  want = beam_search(lm, prompt, 6, num_beams=4)
  got = diverse_beam_search(lm, prompt, 6, num_beams=4, num_groups=1,
                            diversity_penalty=3.0)
  np.testing.assert_array_equal(got.tokens, want.tokens)
  np.testing.assert_allclose(got.scores, want.scores, rtol=1e-6)


def test_without_penalty_every_group_is_beam_search():
  lm, prompt = _table_case()
  want = beam_search(lm, prompt, 6, num_beams=4)
  got = diverse_beam_search(lm, prompt, 6, num_beams=8, num_groups=2,
                            diversity_penalty=0.0)
  for g in range(2):
    np.testing.assert_array_equal(got.tokens[:, 4 * g:4 * g + 4],
                                  want.tokens)
    np.testing.assert_allclose(got.log_probs[:, 4 * g:4 * g + 4],
                               want.log_probs, rtol=1e-6)


def test_a_large_penalty_gives_distinct_first_tokens():
  lm, prompt = _table_case()
  got = diverse_beam_search(lm, prompt, 6, num_beams=5, num_groups=5,
                            diversity_penalty=1e4)
  for row in np.asarray(got.tokens):
    assert len(set(row[:, 0])) == 5


def test_bad_arguments():
  lm, prompt = _table_case()
  with pytest.raises(ValueError, match="num_groups"):
    diverse_beam_search(lm, prompt, 2, num_beams=4, num_groups=3,
                        diversity_penalty=0.5)
  with pytest.raises(ValueError, match="eos_id"):
    beam_search(lm, prompt, 2, num_beams=2, eos_id=11)
  with pytest.raises(ValueError, match="prompt"):
    beam_search(lm, prompt[0], 2, num_beams=2)
