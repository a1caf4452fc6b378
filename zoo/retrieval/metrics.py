"""Ranking metrics with binary relevance: nDCG@k, MRR@k, Recall@k.

Computed in numpy (the tests check them against ranx). Every query counts,
including queries whose relevant documents were not retrieved at all.
"""

from collections.abc import Mapping, Sequence

import numpy as np

DEFAULT_METRICS = ("ndcg@10", "mrr@10", "recall@2", "recall@10", "recall@100")


def _hits(ranking: Sequence[str], relevant: set[str], k: int) -> np.ndarray:
  return np.array([doc in relevant for doc in ranking[:k]], dtype=np.float64)


def per_query(name: str, ranking: Sequence[str], relevant: set[str]) -> float:
  """One metric ("ndcg@10", "mrr@10", "recall@2", ...) for one query."""
  metric, _, k = name.partition("@")
  k = int(k)
  if not relevant:
    raise ValueError("every evaluated query needs at least one relevant doc")
  hits = _hits(ranking, relevant, k)
  if metric == "recall":
    return float(hits.sum() / len(relevant))
  if metric == "mrr":
    first = np.flatnonzero(hits)
    return float(1.0 / (first[0] + 1)) if len(first) else 0.0
  if metric == "ndcg":
    discounts = 1.0 / np.log2(np.arange(2, k + 2))
    ideal = discounts[:min(k, len(relevant))].sum()
    return float((hits * discounts[:len(hits)]).sum() / ideal)
  raise ValueError(f"unknown metric {name!r}; use ndcg@k, mrr@k or recall@k")


def evaluate(
    rankings: Mapping[str, Sequence[str]],
    qrels: Mapping[str, set[str]],
    metrics: Sequence[str] = DEFAULT_METRICS,
) -> dict[str, np.ndarray]:
  """Per-query values of each metric, in the order of `qrels`' queries.

  Args:
    rankings: query id -> document ids, best first.
    qrels: query id -> relevant document ids.
    metrics: metric names.

  Returns:
    metric -> [num_queries] array (a missing ranking scores 0).
  """
  return {m: np.array([per_query(m, rankings.get(q, ()), rel)
                       for q, rel in qrels.items()]) for m in metrics}


def summarize(values: Mapping[str, np.ndarray]) -> dict[str, float]:
  return {m: float(np.mean(v)) for m, v in values.items()}


def paired_difference(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
  """Mean of a - b over queries and its standard error."""
  d = np.asarray(a) - np.asarray(b)
  return float(d.mean()), float(d.std(ddof=1) / np.sqrt(len(d)))


def recall_curve(rankings: Mapping[str, Sequence[str]],
                 qrels: Mapping[str, set[str]], max_k: int = 100
                 ) -> np.ndarray:
  """[max_k] mean Recall@k for k = 1..max_k."""
  curve = np.zeros(max_k)
  for q, relevant in qrels.items():
    hits = np.cumsum([d in relevant for d in rankings.get(q, ())[:max_k]])
    hits = np.pad(hits, (0, max_k - len(hits)), mode="edge") if len(
        hits) else np.zeros(max_k)
    curve += hits / len(relevant)
  return curve / len(qrels)


def own_pool_rankings(top: np.ndarray) -> tuple[dict, dict]:
  """(rankings, qrels) from top [Q, depth] document indices, for queries
  whose one relevant document has their own index (query i, document i)."""
  ids = [str(i) for i in range(len(top))]
  rankings = {ids[i]: [ids[j] for j in row] for i, row in enumerate(top)}
  return rankings, {i: {i} for i in ids}
