"""LeanVec's claims: query-aware projections win when queries are OOD.

Every check measures recall@10 against the exact top-10 inner products:
the top R candidates by <A q, B x_hat> (B x LVQ8-coded; Frank-Wolfe 50
steps after the eigenvector search for OOD) are re-ranked with the exact
<q, x>. Settings fixed by the issue:

1. Synthetic: D=128, random orthonormal u_i; X has variance e^(-i/32)
   along u_i, queries variance 1 on u_32..u_47 and 0.05 elsewhere; 20k
   database vectors, 1k training and 1k test queries (Gaussian); d=16,
   R=100: recall(OOD) >= recall(ID) + 0.20, means of 3 seeds (the seed
   draws basis, database and queries).
2. Cross-modal: `stdlib_code_search_minilm` all-MiniLM-L6-v2 token states,
   mean-pooled over the real tokens and L2-normalised (ours: the model's
   own sentence pipeline normalises); docstring queries, the train split's
   fitting K_Q and the test split's measured; all 5,290 functions as the
   database; d=32, R=100: recall(OOD) >= recall(ID). Deterministic.
3. Digits: the 360 test images as queries against the 1,437 training
   images (pixels / 16), LeanVec-ID (queries from the database's
   distribution), d=16, LVQ8, R=50: recall >= 0.95. Deterministic.
"""

import numpy as np
from sklearn import datasets

from eval.claims import measured
from train.data import sources
from train.data.builders import digits as digits_builder
from zoo.vq import leanvec

SEEDS = (0, 1, 2)
K = 10
LVQ_BITS = 8


def _recall(database, train_queries, test_queries, d: int, rerank: int,
            ood: bool) -> float:
  index = leanvec.build(database, d, bits=LVQ_BITS,
                        queries=train_queries if ood else None)
  found, _ = leanvec.search(index, test_queries, k=K, rerank=rerank)
  return leanvec.recall_at(found, leanvec.exact_top(database, test_queries,
                                                    K))


def synthetic(seed: int, dim: int = 128, n: int = 20_000,
              num_queries: int = 1_000):
  """(database [n, D], train queries, test queries [num_queries, D])."""
  rng = np.random.default_rng(seed)
  basis = np.linalg.qr(rng.standard_normal((dim, dim)))[0]  # columns u_i
  x_std = np.exp(-np.arange(dim) / 64)  # variance e^(-i/32)
  q_std = np.sqrt(np.where((np.arange(dim) >= 32) & (np.arange(dim) < 48),
                           1.0, 0.05))

  def draw(count, std):
    return ((rng.standard_normal((count, dim)) * std) @ basis.T).astype(
        np.float32)

  return draw(n, x_std), draw(num_queries, q_std), draw(num_queries, q_std)


def _mean_pooled(split: str, side: str) -> np.ndarray:
  """[N, 384] unit-norm means of one side's real token states."""
  source = sources.data_source("stdlib_code_search_minilm", split)
  rows = source.__getitems__(range(len(source)))
  pooled = np.stack([
      np.asarray(r[f"{side}_states"][:r[f"{side}_length"]], np.float32)
      .mean(0) for r in rows])
  return pooled / np.linalg.norm(pooled, axis=1, keepdims=True)


def cross_modal() -> tuple[float, float, int, int]:
  """(ID recall, OOD recall, test queries, database size) on docstring ->
  function."""
  database = np.concatenate([_mean_pooled(s, "code")
                             for s in ("train", "validation", "test")])
  train_q, test_q = _mean_pooled("train", "query"), _mean_pooled("test",
                                                                 "query")
  return (_recall(database, train_q, test_q, 32, 100, ood=False),
          _recall(database, train_q, test_q, 32, 100, ood=True),
          len(test_q), len(database))


def digits_recall() -> float:
  images = datasets.load_digits()
  pixels = (images.data / 16.0).astype(np.float32)
  split = digits_builder.split_indices(images.target)
  return _recall(pixels[split["train"]], None, pixels[split["test"]], 16, 50,
                 ood=False)


def check():
  runs = [synthetic(seed) for seed in SEEDS]
  ood = np.mean([_recall(*r, 16, 100, ood=True) for r in runs])
  pca = np.mean([_recall(*r, 16, 100, ood=False) for r in runs])
  cm_id, cm_ood, cm_q, cm_n = cross_modal()
  digits = digits_recall()
  return [
      measured("leanvec", "synthetic OOD (D=128, queries on the database's "
               "weak directions u_32..u_47; 20k db, 1k test queries), d=16, "
               "LVQ8, R=100: recall@10 of LeanVec-OOD >= LeanVec-ID's + 0.20 "
               "(value: OOD recall; baseline: ID recall; mean of 3 seeds)",
               "recall@10", ood, pca, pca + 0.20),
      measured("leanvec", "cross-modal docstring -> function (mean-pooled "
               f"MiniLM states, {cm_q} test queries, {cm_n} functions), d=32, "
               "LVQ8, R=100: recall@10 of LeanVec-OOD (K_Q from the train "
               "docstrings) >= LeanVec-ID's (value: OOD recall; baseline: "
               "ID recall)", "recall@10", cm_ood, cm_id, cm_id),
      measured("leanvec", "digits (360 test queries, 1,437 db), LeanVec-ID "
               "d=16, LVQ8, R=50: recall@10 >= 0.95", "recall@10", digits,
               None, 0.95),
  ]
