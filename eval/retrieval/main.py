"""`python -m eval retrieval`: compare rankers on a retrieval dataset.

    python -m eval retrieval --dataset limit_small
    python -m eval retrieval --dataset stdlib_code_search --pool split \
        --system bm25 --system maxsim --queries 200 --plot recall.png

Prints nDCG@10, MRR@10 and Recall@{2,10,100} per system (pool stated) and
saves a recall-at-k plot. Systems: bm25 (punctuation-stripping tokens; code
identifiers split for code search), bm25_whitespace, single_vector (MiniLM
mean-pooled, cosine), maxsim (MiniLM tokens, 384-d), maxsim128 (a fixed
random 128-d projection), muvera (FDE candidates, MaxSim rerank), colbert
(a trained colbert_proj checkpoint: --workdir).
"""

import argparse
import json
import pathlib
import sys
import time

import numpy as np

from eval.retrieval import data, metrics

ZERO_SHOT = ("bm25", "single_vector", "maxsim", "maxsim128", "muvera")


def ranker(name: str, dataset: str, workdir: str | None):
  """The ranker called `name` (encoders load lazily)."""
  from eval.retrieval import rankers  # noqa: PLC0415

  if name in ("bm25", "bm25_whitespace"):
    tokenizer = ("whitespace_lower" if name == "bm25_whitespace" else
                 "code_identifiers" if dataset == "stdlib_code_search" else
                 "alnum_lower")
    return rankers.bm25_ranker(tokenizer)
  if name == "colbert":
    if not workdir:
      raise ValueError("--system colbert needs --workdir of a trained run")
    from eval.retrieval import colbert  # noqa: PLC0415

    return colbert.trained_ranker(workdir)
  from zoo.retrieval import minilm  # noqa: PLC0415

  encoder = minilm.load()
  if name == "single_vector":
    return rankers.single_vector(encoder)
  if name in ("maxsim", "maxsim128"):
    return rankers.maxsim_ranker(encoder,
                                 dim=128 if name == "maxsim128" else None)
  if name == "muvera":
    from eval.retrieval import muvera  # noqa: PLC0415

    return muvera.ranker(encoder)
  raise ValueError(f"unknown system {name!r}")


def recall_curve(rankings, qrels, max_k: int = 100) -> np.ndarray:
  """Mean Recall@k for k = 1..max_k."""
  curve = np.zeros(max_k)
  for q, relevant in qrels.items():
    hits = np.cumsum([d in relevant for d in rankings.get(q, ())[:max_k]])
    hits = np.pad(hits, (0, max_k - len(hits)), mode="edge") if len(
        hits) else np.zeros(max_k)
    curve += hits / len(relevant)
  return curve / len(qrels)


def plot_recall(curves: dict[str, np.ndarray], title: str, path) -> None:
  from eval import plots  # noqa: PLC0415

  plots.curves({name: (np.arange(1, len(c) + 1), c)
                for name, c in curves.items()}, path, title=title,
               xlabel="k", ylabel="Recall@k", logx=True)


def run(dataset: str, systems, *, split="test", pool="split",
        num_queries=None, workdir=None) -> tuple[dict, dict]:
  """Evaluates each system; returns (summary rows, recall curves)."""
  rset = data.load(dataset, split=split, pool=pool)
  if num_queries:
    rset = rset.subset(num_queries)
  rows, curves = {}, {}
  for name in systems:
    start = time.perf_counter()
    top = ranker(name, dataset, workdir)(rset)
    rankings = {q: [rset.doc_ids[j] for j in row]
                for q, row in zip(rset.query_ids, top)}
    rows[name] = {**metrics.summarize(metrics.evaluate(rankings, rset.qrels)),
                  "seconds": time.perf_counter() - start}
    curves[name] = recall_curve(rankings, rset.qrels)
  return {"dataset": rset.name, "queries": len(rset.queries),
          "pool": len(rset.docs), "systems": rows}, curves


def main(argv) -> int:
  p = argparse.ArgumentParser(prog="python -m eval retrieval",
                              description=__doc__,
                              formatter_class=argparse.RawTextHelpFormatter)
  p.add_argument("--dataset", required=True, choices=data.DATASETS)
  p.add_argument("--system", action="append",
                 help=f"repeatable (default: {', '.join(ZERO_SHOT)})")
  p.add_argument("--split", default="test",
                 help="code search: the queries' split (test, validation)")
  p.add_argument("--pool", default="split", choices=data.POOLS,
                 help="code search candidates: the split's own functions "
                      "or all 5,290")
  p.add_argument("--queries", type=int, default=None,
                 help="evaluate only the first N queries")
  p.add_argument("--workdir", default=None,
                 help="trained colbert_proj run (for --system colbert); "
                      "results and the plot go there")
  p.add_argument("--plot", default=None, help="recall@k PNG path")
  p.add_argument("--json", action="store_true", help="print JSON only")
  args = p.parse_args(argv)
  try:
    summary, curves = run(args.dataset, args.system or ZERO_SHOT,
                          split=args.split, pool=args.pool,
                          num_queries=args.queries, workdir=args.workdir)
  except ValueError as e:
    print(f"error: {e}", file=sys.stderr)
    return 2
  out_dir = pathlib.Path(args.workdir or "runs/retrieval")
  plot = args.plot or out_dir / f"recall_{args.dataset}.png"
  plot_recall(curves, f"{summary['dataset']}: {summary['queries']} queries, "
              f"{summary['pool']} candidates", plot)
  if args.json:
    print(json.dumps(summary))
    return 0
  print(f"{summary['dataset']}: {summary['queries']} queries against "
        f"{summary['pool']} candidates")
  names = list(metrics.DEFAULT_METRICS)
  print(f"{'system':<16}" + "".join(f"{m:>11}" for m in names)
        + f"{'seconds':>9}")
  for system, row in summary["systems"].items():
    print(f"{system:<16}" + "".join(f"{row[m]:11.4f}" for m in names)
          + f"{row['seconds']:9.1f}")
  print(f"recall@k plot: {plot}")
  return 0
