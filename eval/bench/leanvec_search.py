"""LeanVec search against faiss-cpu on the claim's synthetic OOD data.

    python -m eval.bench.leanvec_search [--seed 0] [--threads 2]

Both sides reduce D=128 to d=16, take the top R=100 candidates on the
reduced vectors (8-bit codes) and re-rank them exactly: LeanVec-ID/OOD
with LVQ8 (`zoo.vq.leanvec`, brute force through `ops.vq_nearest`), faiss
`PCAMatrix` + `IndexScalarQuantizer` (QT_8bit, inner product) wrapped in
`IndexRefineFlat` (k_factor R/k). Prints a markdown table: recall@10
against the exact top-10, index build time and queries/s for the 1,000
test queries in one batch (median of 5 after a warm-up).
"""

import argparse
import time

from eval.bench.harness import median_ms
from eval.claims import leanvec as claim
from zoo.vq import leanvec

D_REDUCED, RERANK, K = 16, 100, 10


def _median_s(fn) -> float:
  """Median seconds of fn() over 5 runs after one warm-up."""
  return median_ms(fn, [()], warmup=1, runs=5) / 1e3


def _ours(db, train_q, test_q, exact, ood: bool):
  start = time.perf_counter()
  index = leanvec.build(db, D_REDUCED, queries=train_q if ood else None,
                        bits=claim.LVQ_BITS)
  build_s = time.perf_counter() - start
  found, _ = leanvec.search(index, test_q, k=K, rerank=RERANK)
  seconds = _median_s(lambda: leanvec.search(index, test_q, k=K,
                                             rerank=RERANK))
  return leanvec.recall_at(found, exact), build_s, len(test_q) / seconds


def _faiss(db, test_q, exact):
  import faiss  # noqa: PLC0415 (the `compare` extra)

  dim = db.shape[1]
  start = time.perf_counter()
  base = faiss.IndexPreTransform(
      faiss.PCAMatrix(dim, D_REDUCED),
      faiss.IndexScalarQuantizer(D_REDUCED, faiss.ScalarQuantizer.QT_8bit,
                                 faiss.METRIC_INNER_PRODUCT))
  index = faiss.IndexRefineFlat(base)
  index.k_factor = RERANK / K
  index.train(db)
  index.add(db)
  build_s = time.perf_counter() - start
  _, found = index.search(test_q, K)
  seconds = _median_s(lambda: index.search(test_q, K))
  return leanvec.recall_at(found, exact), build_s, len(test_q) / seconds


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--seed", type=int, default=0)
  parser.add_argument("--threads", type=int, default=2)
  args = parser.parse_args(argv)
  import faiss  # noqa: PLC0415

  faiss.omp_set_num_threads(args.threads)
  db, train_q, test_q = claim.synthetic(args.seed)
  exact = leanvec.exact_top(db, test_q, K)
  rows = {"LeanVec-ID (LVQ8)": _ours(db, train_q, test_q, exact, False),
          "LeanVec-OOD (LVQ8)": _ours(db, train_q, test_q, exact, True),
          "faiss PCAMatrix + SQ8 + IndexRefineFlat": _faiss(db, test_q,
                                                            exact)}
  print(f"synthetic OOD, seed {args.seed}: {len(db)} x {db.shape[1]}, d="
        f"{D_REDUCED}, R={RERANK}, {len(test_q)} queries\n")
  print("| method | recall@10 | build s | queries/s |\n|---|---|---|---|")
  for name, (recall, build_s, qps) in rows.items():
    print(f"| {name} | {recall:.3f} | {build_s:.2f} | {qps:,.0f} |")
  return 0


if __name__ == "__main__":
  raise SystemExit(main())
