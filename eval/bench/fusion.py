"""CPU side by side for vector_prf: ops.prf.interpolate vs ranx.fuse (wsum,
min-max) on the same top-100 runs, and ops.prf.vector_prf vs pyserini's
per-query numpy mean. Random scores shaped like the claims' runs.

    python -m eval.bench.fusion
"""
import functools
import time

import numpy as np
import ranx

from eval.bench.harness import median_ms
from ops import prf


def runs_of(scores, depth):
  out = {}
  for i, row in enumerate(scores):
    top = np.argsort(-row, kind="stable")[:depth]
    out[f"q{i}"] = {f"d{j}": float(row[j]) for j in top}
  return out


def imputed(sparse_run, dense_run):
  """Both runs over the union, a missing doc at that run's min."""
  out = ({}, {})
  for q in sparse_run:
    union = set(sparse_run[q]) | set(dense_run[q])
    for o, run in zip(out, (sparse_run, dense_run)):
      low = min(run[q].values())
      o[q] = {d: run[q].get(d, low) for d in union}
  return out


def main() -> None:
  for q, n in ((1000, 46), (541, 541), (541, 5290)):
    rng = np.random.default_rng(0)
    sparse = rng.gamma(2.0, 3.0, (q, n)).astype(np.float32)
    dense = rng.uniform(-1, 1, (q, n)).astype(np.float32)
    depth = min(100, n)
    fuse = functools.partial(prf.interpolate, alpha=0.5, depth=depth)
    ours = median_ms(fuse, [(sparse, dense)]) / 1e3
    fused = np.asarray(prf.interpolate(sparse, dense, alpha=0.5, depth=depth))
    s_run, d_run = imputed(runs_of(sparse, depth), runs_of(dense, depth))
    runs = [ranx.Run(s_run), ranx.Run(d_run)]
    ranx.fuse(runs=runs, norm="min-max", method="wsum",
              params={"weights": [0.5, 1.0]})  # numba compile
    start = time.perf_counter()
    theirs = ranx.fuse(runs=runs, norm="min-max", method="wsum",
                       params={"weights": [0.5, 1.0]}).to_dict()
    ranx_s = time.perf_counter() - start
    agree = 0
    for i in range(q):
      sc = theirs[f"q{i}"]
      order = [f"d{j}" for j in np.argsort(-fused[i], kind="stable")[:10]]
      agree += [sc[d] for d in order] == sorted(sc.values(), reverse=True)[:10]
    qv = rng.standard_normal((q, 384)).astype(np.float32)
    dv = rng.standard_normal((n, 384)).astype(np.float32)
    first = qv @ dv.T
    feedback = functools.partial(prf.vector_prf, depth=3)
    prf_s = median_ms(feedback, [(qv, dv, first)]) / 1e3
    start = time.perf_counter()
    top = np.argsort(-first, axis=1, kind="stable")[:, :3]
    _ = np.stack([np.mean(np.vstack([qv[i], dv[top[i]]]), axis=0)
                  for i in range(q)])
    np_s = time.perf_counter() - start
    print(f"| {q} x {n} | {ours * 1e3:.1f} | {ranx_s * 1e3:.1f} | "
          f"{agree}/{q} | {prf_s * 1e3:.1f} | {np_s * 1e3:.1f} |", flush=True)


if __name__ == "__main__":
  main()
