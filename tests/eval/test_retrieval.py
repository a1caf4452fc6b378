"""Ranking metrics against ranx, BM25 tokenizers, retrieval datasets."""

import numpy as np
import pytest

from eval.retrieval import data
from zoo.retrieval import bm25, metrics


def _random_case(seed, num_queries=40, num_docs=30):
  rng = np.random.default_rng(seed)
  docs = [f"d{i}" for i in range(num_docs)]
  qrels, rankings = {}, {}
  for q in range(num_queries):
    rel = rng.choice(num_docs, size=rng.integers(1, 4), replace=False)
    qrels[f"q{q}"] = {docs[i] for i in rel}
    order = rng.permutation(num_docs)[:rng.integers(0, num_docs)]
    rankings[f"q{q}"] = [docs[i] for i in order]
  return qrels, rankings


def test_metrics_match_ranx():
  ranx = pytest.importorskip("ranx")
  qrels, rankings = _random_case(0)
  ours = metrics.summarize(metrics.evaluate(rankings, qrels))
  run = {q: {d: float(len(r) - i) for i, d in enumerate(r)}
         for q, r in rankings.items() if r}
  theirs = ranx.evaluate(
      ranx.Qrels({q: {d: 1 for d in rel} for q, rel in qrels.items()}),
      ranx.Run(run), list(metrics.DEFAULT_METRICS), make_comparable=True)
  for name, value in ours.items():
    assert value == pytest.approx(float(theirs[name]), abs=1e-9), name


def test_metrics_by_hand():
  rel = {"a", "b"}
  assert metrics.per_query("recall@2", ["a", "x", "b"], rel) == 0.5
  assert metrics.per_query("mrr@10", ["x", "y", "b"], rel) == pytest.approx(
      1 / 3)
  ideal = 1 + 1 / np.log2(3)
  assert metrics.per_query("ndcg@10", ["x", "a"], rel) == pytest.approx(
      (1 / np.log2(3)) / ideal)
  assert metrics.per_query("ndcg@10", ["b", "a"], rel) == pytest.approx(1.0)
  with pytest.raises(ValueError, match="unknown metric"):
    metrics.per_query("map@10", ["a"], rel)


def test_code_identifier_tokenizer():
  assert bm25.code_identifiers("def getHTTPResponse_code(self):") == [
      "def", "get", "http", "response", "code", "gethttpresponse_code",
      "self"]


def test_limit_small_bm25_needs_punctuation_stripping():
  s = data.load("limit_small")
  assert (len(s.queries), len(s.docs)) == (1000, 46)
  assert all(len(r) == 2 for r in s.qrels.values())

  def recall2(tokenizer):
    idx = bm25.rank(s.queries, s.docs, tokenizer=tokenizer, depth=10)
    ranks = {q: [s.doc_ids[j] for j in row]
             for q, row in zip(s.query_ids, idx)}
    return metrics.summarize(metrics.evaluate(
        ranks, s.qrels, ["recall@2"]))["recall@2"]

  assert recall2("alnum_lower") > 0.95
  assert recall2("whitespace_lower") < 0.5


def test_code_search_pools():
  split = data.load("stdlib_code_search", split="test", pool="split")
  assert len(split.queries) == len(split.docs)
  assert set(split.doc_ids) == set(split.query_ids)
  everything = data.load("stdlib_code_search", split="test", pool="all")
  assert set(split.doc_ids) < set(everything.doc_ids)
  assert len(set(everything.doc_ids)) == len(everything.doc_ids)
  with pytest.raises(ValueError, match="pool must be"):
    data.load("stdlib_code_search", pool="half")
