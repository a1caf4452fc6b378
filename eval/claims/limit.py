"""LIMIT's claims: single vectors cannot represent all top-k subsets.

1. On LIMIT-small (46 people, 1000 "Who likes X?" queries, two relevant
   people each), Recall@2: BM25 (tokens with punctuation stripped) is near
   perfect, single-vector MiniLM (mean pooled, cosine) stays low, and
   multi-vector MiniLM (MaxSim over its normalised token states, no
   training) escapes the limit. MUVERA (FDE top-10 candidates, MaxSim
   rerank) is reported beside them as a fraction of exhaustive MaxSim; its
   candidate stage is itself one vector per text (the FDE), so LIMIT's
   argument applies to it.
2. Free embeddings: the largest number of documents n for which every pair
   of them can be some query's exact top 2 grows with the dimension d; the
   measured critical n is compared with the paper's cubic fit at d = 4, 6, 8.
"""

import numpy as np

from eval.claims import measured
from eval.retrieval import data
from zoo.retrieval import limit, metrics, minilm, muvera, rankers

DIMENSIONS = (4, 6, 8)


def _recall2(rset, top) -> float:
  rankings = {q: [rset.doc_ids[j] for j in row]
              for q, row in zip(rset.query_ids, top)}
  return metrics.summarize(metrics.evaluate(
      rankings, rset.qrels, ["recall@2"]))["recall@2"]


def check():
  rset = data.load("limit_small")
  encoder = minilm.load()
  bm25 = _recall2(rset, rankers.bm25_ranker("alnum_lower")(rset))
  single = _recall2(rset, rankers.single_vector(encoder)(rset))
  maxsim = _recall2(rset, rankers.maxsim_ranker(encoder)(rset))
  fde = _recall2(rset, muvera.ranker(encoder, num_candidates=10)(rset))
  records = [
      measured("limit", "LIMIT-small: BM25 (punctuation stripped) "
               "Recall@2 >= 0.95", "recall@2", bm25, None, 0.95),
      measured("limit", "LIMIT-small: single-vector MiniLM Recall@2 <= 0.30 "
               "(baseline: BM25)", "recall@2", single, bm25, 0.30,
               higher_is_better=False),
      measured("limit", "LIMIT-small: multi-vector MiniLM (MaxSim, no "
               "training) Recall@2 >= 0.90 (baseline: single vector)",
               "recall@2", maxsim, single, 0.90),
      measured("limit", "LIMIT-small: MUVERA (10 FDE candidates, MaxSim "
               "rerank) keeps >= 90% of exhaustive MaxSim's Recall@2 "
               "(value: ratio; baseline: MUVERA Recall@2)",
               "recall@2_ratio_to_maxsim", fde / maxsim, fde, 0.90),
  ]
  critical = [limit.critical_n(d) for d in DIMENSIONS]
  records.append(measured(
      "limit", "free embeddings: critical n strictly increases with d "
      f"(d = {DIMENSIONS}: n = {tuple(critical)}); value 1 = yes",
      "critical_n_increasing", float(np.all(np.diff(critical) > 0)), None,
      1.0))
  for d, n in zip(DIMENSIONS, critical):
    fit = limit.paper_fit(d)
    records.append(measured(
        "limit", f"free embeddings, d={d}: critical n = {n} within 35% of "
        f"the paper's fit {fit:.1f} (value: relative error; baseline: fit)",
        "critical_n_relative_error", abs(n - fit) / fit, fit, 0.35,
        higher_is_better=False))
  return records
