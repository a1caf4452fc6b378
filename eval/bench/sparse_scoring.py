"""CPU side by side for VDR's scoring: ops.sparse.sparse_scores (dense
[V]-wide matmul under jit, top-k OR bag-of-words masks applied inside) vs
scipy.sparse CSR (sentence-transformers SparseEncoder's path: masked vectors
stored as CSR, q @ d.T), same rankings. Vectors are random with VDR's
sparsity (768 top entries plus ~20 bag-of-words ones per side).

    python -m eval.bench.sparse_scoring
"""
import time

import numpy as np
import scipy.sparse

from eval.bench.harness import median_ms
from ops import sparse


def vectors(rng, n, v, k):
  x = rng.random((n, v), np.float32)
  keep = np.asarray(sparse.topk_mask(x, min(k, v)))
  bow = rng.random((n, v)) < 20 / v
  return x, keep | bow


def main() -> None:
  SHAPES = {29_523: ((1000, 46), (541, 541)),
            2_048: ((1000, 46), (541, 541), (541, 5290))}
  for v, k in ((29_523, 768), (2_048, 64)):
    for q, n in SHAPES[v]:
      rng = np.random.default_rng(0)
      qx, qk = vectors(rng, q, v, k)
      dx, dk = vectors(rng, n, v, k)
      ours = median_ms(sparse.sparse_scores, [(qx, dx, qk, dk)]) / 1e3
      s_ours = np.asarray(sparse.sparse_scores(qx, dx, qk, dk))
      start = time.perf_counter()
      qc = scipy.sparse.csr_matrix(np.where(qk, qx, 0))
      dc = scipy.sparse.csr_matrix(np.where(dk, dx, 0))
      build = time.perf_counter() - start
      start = time.perf_counter()
      s_theirs = (qc @ dc.T).toarray()
      csr = time.perf_counter() - start
      same = np.array_equal(np.argsort(-s_ours, 1, kind="stable")[:, :10],
                            np.argsort(-s_theirs, 1, kind="stable")[:, :10])
      err = np.abs(s_ours - s_theirs).max() / np.abs(s_theirs).max()
      print(f"| {v} | {q} x {n} | {ours * 1e3:.0f} | {csr * 1e3:.0f} "
            f"(+{build * 1e3:.0f} to build CSR) | {same} | {err:.1e} |",
            flush=True)


if __name__ == "__main__":
  main()
