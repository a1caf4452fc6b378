"""Exact-extract: the forest's span scores against scoring each span alone."""

import jax
import numpy as np
import pytest
from jax import numpy as jnp

from eval.decoding import kv_qa
from ops.decoding import exact_extract, sampling
from zoo.lm import special_tokens
from zoo.lm.decoder import CachedLM, DecoderConfig, DecoderLM
from zoo.lm.table import TableLM

V = 23
STOP = 2
MAX_PASSAGE, MAX_ANSWER = 7, 3


def _decoder_lm():
  module = DecoderLM(DecoderConfig(vocab_size=V, embed_dim=32, num_layers=2,
                                   num_heads=2, num_kv_heads=1, mlp_dim=48))
  params = jax.jit(module.init)(jax.random.key(0), jnp.zeros((1, 4), jnp.int32))
  return CachedLM(params["params"], module)


MODELS = {
    "decoder": _decoder_lm,
    "trigram": lambda: TableLM.random(jax.random.key(1), V, order=3,
                                      temperature=0.5),
}


def _examples(seed):
  """Two right-padded prompts (passage, then a question) of unequal length."""
  rng = np.random.default_rng(seed)
  lengths = [(2, 6, 3), (0, 7, 4)]  # (before, passage, question) tokens
  total = max(sum(x) for x in lengths)
  prompt = np.zeros((2, total), np.int32)
  for row, parts in enumerate(lengths):
    prompt[row, :sum(parts)] = rng.integers(3, V, sum(parts))
  return dict(prompt=jnp.asarray(prompt),
              prompt_len=jnp.array([sum(x) for x in lengths]),
              passage_start=jnp.array([x[0] for x in lengths]),
              passage_len=jnp.array([x[1] for x in lengths]))


def _scores(lm, ex):
  return exact_extract.span_scores(
      lm, **ex, max_passage_len=MAX_PASSAGE, max_answer_len=MAX_ANSWER,
      stop_id=STOP)


@jax.jit
def _forward(lm, tokens):
  return lm.extend(tokens, lm.init_cache(*tokens.shape))[0]


def _nll_each_alone(lm, contexts, answers):
  """-log p(answer, then STOP | context) for each pair, one row each."""
  seqs = [list(c) + list(a) + [STOP] for c, a in zip(contexts, answers)]
  width = max(map(len, seqs))
  padded = jnp.array([s + [0] * (width - len(s)) for s in seqs])
  # Trailing padding is invisible to earlier positions under the causal mask.
  logp = np.asarray(jax.nn.log_softmax(_forward(lm, padded), -1))
  return np.array([
      -sum(logp[r, j - 1, s[j]] for j in range(len(c), len(s)))
      for r, (s, c) in enumerate(zip(seqs, contexts))])


def _brute_force_scores(lm, ex):
  """[B, N, L] scores of every span, each span scored on its own."""
  cells, contexts, answers = [], [], []
  for b in range(2):
    prompt = np.asarray(ex["prompt"][b, :int(ex["prompt_len"][b])])
    start, n = int(ex["passage_start"][b]), int(ex["passage_len"][b])
    for i in range(n):
      for c in range(min(MAX_ANSWER, n - i)):
        cells.append((b, i, c))
        contexts.append(prompt)
        answers.append(prompt[start + i:start + i + c + 1])
  want = np.full((2, MAX_PASSAGE, MAX_ANSWER), np.inf, np.float32)
  for cell, nll in zip(cells, _nll_each_alone(lm, contexts, answers)):
    want[cell] = nll
  return want


@pytest.mark.parametrize("model", sorted(MODELS))
def test_span_scores_and_argmin_equal_brute_force(model):
  lm = MODELS[model]()
  ex = _examples(0)
  got = np.asarray(_scores(lm, ex))
  want = _brute_force_scores(lm, ex)
  np.testing.assert_array_equal(np.isinf(got), np.isinf(want))
  np.testing.assert_allclose(got[np.isfinite(want)], want[np.isfinite(want)],
                             rtol=1e-5, atol=1e-4)
  c = np.arange(MAX_ANSWER)
  for normalized, table in ((False, want), (True, want / (c + 2))):
    span = exact_extract.best_span(jnp.asarray(got),
                                   length_normalized=normalized)
    for b in range(2):
      flat = np.argmin(table[b])
      assert (int(span.start[b]), int(span.length[b]) - 1) == divmod(
          flat, MAX_ANSWER)
      # Always a span: inside the passage, 1..L tokens.
      assert 1 <= int(span.length[b]) <= MAX_ANSWER
      assert int(span.start[b] + span.length[b]) <= int(
          ex["passage_len"][b])


def test_greedy_answer_equals_generate_on_unpadded_prompts():
  lm = MODELS["decoder"]()
  ex = _examples(1)
  tokens, answer_len = exact_extract.greedy_answer(
      lm, ex["prompt"], ex["prompt_len"], max_answer_len=MAX_ANSWER,
      stop_id=STOP)
  for b in range(2):
    prompt = ex["prompt"][b:b + 1, :int(ex["prompt_len"][b])]
    want = np.asarray(sampling.generate(lm, prompt, MAX_ANSWER + 1).tokens[0])
    np.testing.assert_array_equal(tokens[b], want)
    stops = np.flatnonzero(want == STOP)
    assert int(answer_len[b]) == (stops[0] if stops.size else MAX_ANSWER + 1)


def test_score_is_at_most_greedys_when_greedy_answers_a_span():
  """A bigram table whose greedy answer is planted in the passage."""
  rng = np.random.default_rng(2)
  logits = rng.normal(size=(V, V)).astype(np.float32)
  question_end, a1, a2 = 5, 9, 14
  for prev, nxt in ((question_end, a1), (a1, a2), (a2, STOP)):
    logits[prev, nxt] += 8.0  # greedy: a1 a2 STOP
  lm = TableLM(jnp.asarray(logits))
  passage = rng.integers(3, V, MAX_PASSAGE)
  passage[3:5] = a1, a2
  prompt = np.concatenate([passage, [7, question_end]])[None]
  ex = dict(prompt=jnp.asarray(prompt), prompt_len=jnp.array([9]),
            passage_start=jnp.array([0]), passage_len=jnp.array([7]))
  tokens, answer_len = exact_extract.greedy_answer(
      lm, ex["prompt"], ex["prompt_len"], max_answer_len=MAX_ANSWER,
      stop_id=STOP)
  greedy = np.asarray(tokens[0, :int(answer_len[0])])
  np.testing.assert_array_equal(greedy, [a1, a2])
  greedy_nll = _nll_each_alone(lm, [prompt[0]], [greedy])[0]
  scores = _scores(lm, ex)
  np.testing.assert_allclose(scores[0, 3, 1], greedy_nll, atol=1e-5)
  for normalized in (False, True):
    best = exact_extract.best_span(scores, length_normalized=normalized)
    bound = greedy_nll / (len(greedy) + 1) if normalized else greedy_nll
    assert float(best.score[0]) <= bound + 1e-6


def test_bad_prompt_shapes_are_rejected():
  ex = _examples(0)
  with pytest.raises(ValueError, match="prompt_len"):
    exact_extract.greedy_answer(MODELS["trigram"](), ex["prompt"],
                                ex["prompt_len"][:1], max_answer_len=2,
                                stop_id=STOP)


def test_kv_qa_gold_spans_hold_the_answers():
  vocab = {}
  encode = lambda text: [vocab.setdefault(w, len(vocab) + 4)
                         for w in text.split()]
  examples = kv_qa.make_examples(encode, 50, seed=3)
  for e in examples:
    np.testing.assert_array_equal(e.answer_tokens, encode(" " + e.answer))
    assert 1 <= e.answer_len <= kv_qa.MAX_VALUE_TOKENS
    passage = e.tokens[e.passage_start:e.passage_start + e.passage_len]
    assert passage[-1] == vocab[";"] and e.tokens[0] == special_tokens.BOS
    key = e.tokens[-2]  # "... question: key ?"
    assert passage[e.answer_start - 2] == key
  arrays = kv_qa.batch(examples)
  assert arrays["prompt"].shape == (50, max(len(e.tokens) for e in examples))
  np.testing.assert_array_equal(arrays["prompt_len"],
                                [len(e.tokens) for e in examples])
