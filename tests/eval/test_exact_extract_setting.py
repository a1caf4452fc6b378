"""Exact-extract's claim settings: the cloze corpus and the gold-span
precondition."""

import os

import jax
import numpy as np
from jax import numpy as jnp

from eval.decoding import exact_extract, kv_qa, kv_qa_lm
from ops.decoding.exact_extract import best_span
from zoo.lm import special_tokens
from zoo.lm.decoder import CachedLM, DecoderConfig, DecoderLM


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


def _tiny_lm(vocab_size: int) -> CachedLM:
  module = DecoderLM(DecoderConfig(vocab_size=vocab_size, embed_dim=16,
                                   num_layers=1, num_heads=2, mlp_dim=32))
  params = module.init(jax.random.key(0), jnp.zeros((1, 2), jnp.int32))
  return CachedLM(params["params"], module)


def test_fine_tunes_are_cached_per_recipe_and_refreshed_with_their_base(
    tmp_path, monkeypatch):
  vocab, encode = _word_encoder()
  examples = kv_qa.make_examples(encode, 4, seed=3)
  lm = _tiny_lm(len(vocab) + 8)
  base_file = tmp_path / "base" / "params.msgpack"
  base_file.parent.mkdir()
  base_file.write_text("base")
  os.utime(base_file, (1, 1))
  calls = []
  real_finetune = exact_extract.finetune
  monkeypatch.setattr(exact_extract, "finetune", lambda *a: calls.append(
      a[1:]) or real_finetune(*a))
  monkeypatch.setattr(exact_extract, "FINETUNE_BATCH", 2)
  first = exact_extract.finetuned(lm, examples, 0, base_file)
  again = exact_extract.finetuned(lm, examples, 0, base_file)
  assert len(calls) == 1  # the second one was read back
  jax.tree.map(np.testing.assert_array_equal, first.params, again.params)
  assert not all(jax.tree.leaves(jax.tree.map(
      np.array_equal, first.params, lm.params)))  # it did train
  exact_extract.finetuned(lm, examples, 1, base_file)  # another seed
  exact_extract.finetuned(lm, examples[:3], 0, base_file)  # other examples
  assert len(calls) == 3
  os.utime(base_file)  # the base LM was retrained since
  exact_extract.finetuned(lm, examples, 0, base_file)
  assert len(calls) == 4
  assert sorted(p.name.split("_qa_")[0] for p in tmp_path.iterdir()
                if p.is_dir() and "_qa_" in p.name) == ["base"] * 3
