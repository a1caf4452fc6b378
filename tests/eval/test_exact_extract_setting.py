"""Exact-extract's claim settings: the cloze corpus and the gold-span
precondition."""

import numpy as np

from eval.decoding import exact_extract, kv_qa, kv_qa_lm
from ops.decoding.exact_extract import best_span
from zoo.lm import special_tokens


def _word_encoder():
  vocab = {}
  return vocab, lambda text: [vocab.setdefault(w, len(vocab) + 4)
                              for w in text.split()]


def test_cloze_documents_restate_a_key_and_copy_its_value():
  vocab, encode = _word_encoder()
  docs = kv_qa_lm.cloze_documents(encode, 30, seed=5)
  for doc, e in zip(docs, kv_qa.make_examples(encode, 30, seed=5)):
    end = e.passage_start + e.passage_len
    np.testing.assert_array_equal(doc[:end], e.tokens[:end])
    tail = doc[end:]
    assert tail[-1] == special_tokens.EOS
    np.testing.assert_array_equal(tail[-1 - e.answer_len:-1],
                                  e.answer_tokens)
    assert tail[-2 - e.answer_len] == vocab["="]
    key = e.tokens[-2]  # "... question: key ?"
    np.testing.assert_array_equal(tail[:-2 - e.answer_len], [key])
    assert vocab["question:"] not in doc and vocab["?"] not in doc


def test_gold_span_stats_match_brute_force_ranks():
  _, encode = _word_encoder()
  examples = kv_qa.make_examples(encode, 40, seed=2)
  rng = np.random.default_rng(0)
  scores = rng.normal(size=(40, 30, 4)).astype(np.float32)
  for row, e in enumerate(examples[::3]):  # some gold spans made best
    scores[3 * row, e.answer_start, e.answer_len - 1] = -10.0
  stats = exact_extract._gold_span_stats(scores, examples)
  span = best_span(scores)
  best = [(s, n) == (e.answer_start, e.answer_len) for s, n, e in
          zip(np.asarray(span.start), np.asarray(span.length), examples)]
  assert stats["gold_span_is_best"] == np.mean(best) > 0
  ranks = [1 + sum(v < scores[i, e.answer_start, e.answer_len - 1]
                   for v in scores[i].ravel())
           for i, e in enumerate(examples)]
  assert stats["gold_span_median_rank"] == np.median(ranks)
  gold = [scores[i, e.answer_start, e.answer_len - 1]
          for i, e in enumerate(examples)]
  np.testing.assert_allclose(stats["gold_span_nll"], np.mean(gold),
                             rtol=1e-6)
