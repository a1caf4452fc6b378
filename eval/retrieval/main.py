"""`python -m eval retrieval`: compare rankers on a retrieval dataset.

    python -m eval retrieval --dataset limit_small
    python -m eval retrieval --dataset stdlib_code_search --pool split \
        --ranker bm25 --ranker maxsim --queries 200 --plot recall.png
    python -m eval retrieval --dataset stdlib_code_search \
        --ranker colbert_proj --workdir runs/colbert_proj

Prints nDCG@10, MRR@10 and Recall@{2,10,100} per ranker (pool stated) and
saves a recall-at-k plot. A ranker is a registered system that has one
(muvera; colbert_proj and crisp, which read a trained run's --workdir), a
system's named variants (vector_prf: prf_none, prf_before, prf_after,
prf_both; `--system prf_both` is the same as `--ranker prf_both`), or a
named baseline (`zoo.retrieval.baselines`): bm25 (punctuation-stripping
tokens; code identifiers split for code search), bm25_whitespace,
single_vector (MiniLM mean-pooled, cosine), maxsim (MiniLM tokens, 384-d),
maxsim128 (a fixed random 128-d projection).
"""

import argparse
import json
import pathlib
import sys
import time
from collections.abc import Mapping

from eval.retrieval import data
from train import plots
from zoo import registry
from zoo.retrieval import baselines, metrics

ZERO_SHOT = ("bm25", "single_vector", "maxsim", "maxsim128", "muvera")


def _system_rankers() -> dict:
  """Name -> `(dataset, workdir) -> ranker` of every system's rankers: a
  system's `ranker` names one factory (listed under the system's name) or a
  mapping of variant names to factories (vector_prf's prf_none ...)."""
  found = {}
  for system in registry.systems():
    if not system.ranker:
      continue
    target = registry.resolve(system.ranker)
    found.update(target if isinstance(target, Mapping) else
                 {system.name: target})
  return found


def ranker_names() -> list[str]:
  """Every name `--ranker` takes: systems' rankers, then baselines."""
  return list(_system_rankers()) + list(baselines.BASELINES)


def ranker_factory(name: str):
  """`(dataset, workdir) -> ranker` for `name`: a system's, else a named
  baseline's; ValueError listing the known names."""
  systems = _system_rankers()
  if name in systems:
    return systems[name]
  if name in baselines.BASELINES:
    return baselines.BASELINES[name]
  raise ValueError(f"unknown ranker {name!r}; known: "
                   f"{', '.join(ranker_names())}")


def run(dataset: str, names, *, split="test", pool="split",
        num_queries=None, workdir=None) -> tuple[dict, dict]:
  """Evaluates each ranker; returns (summary rows, recall curves)."""
  factories = {name: ranker_factory(name) for name in names}
  rset = data.load(dataset, split=split, pool=pool)
  if num_queries:
    rset = rset.subset(num_queries)
  rows, curves = {}, {}
  for name in names:
    start = time.perf_counter()
    top = factories[name](dataset, workdir)(rset)
    rankings = {q: [rset.doc_ids[j] for j in row]
                for q, row in zip(rset.query_ids, top)}
    rows[name] = {**metrics.summarize(metrics.evaluate(rankings, rset.qrels)),
                  "seconds": time.perf_counter() - start}
    curves[name] = metrics.recall_curve(rankings, rset.qrels)
  return {"dataset": rset.name, "queries": len(rset.queries),
          "pool": len(rset.docs), "rankers": rows}, curves


def main(argv) -> int:
  p = argparse.ArgumentParser(prog="python -m eval retrieval",
                              description=__doc__,
                              formatter_class=argparse.RawTextHelpFormatter)
  p.add_argument("--dataset", required=True, choices=data.DATASETS)
  p.add_argument("--ranker", "--system", action="append", dest="ranker",
                 help=f"repeatable, --system is the same (default: "
                      f"{', '.join(ZERO_SHOT)}); see the list above")
  p.add_argument("--split", default="test",
                 help="code search: the queries' split (test, validation)")
  p.add_argument("--pool", default="split", choices=data.POOLS,
                 help="code search candidates: the split's own functions "
                      "or all 5,290")
  p.add_argument("--queries", type=int, default=None,
                 help="evaluate only the first N queries")
  p.add_argument("--workdir", default=None,
                 help="a trained run (for --ranker colbert_proj or crisp); "
                      "the plot goes there")
  p.add_argument("--plot", default=None, help="recall@k PNG path")
  p.add_argument("--json", action="store_true", help="print JSON only")
  args = p.parse_args(argv)
  try:
    summary, curves = run(args.dataset, args.ranker or ZERO_SHOT,
                          split=args.split, pool=args.pool,
                          num_queries=args.queries, workdir=args.workdir)
  except ValueError as e:
    print(f"error: {e}", file=sys.stderr)
    return 2
  out_dir = pathlib.Path(args.workdir or "runs/retrieval")
  plot = args.plot or out_dir / f"recall_{args.dataset}.png"
  plots.recall_at_k(curves, plot,
                    title=f"{summary['dataset']}: {summary['queries']} "
                          f"queries, {summary['pool']} candidates")
  if args.json:
    print(json.dumps(summary))
    return 0
  print(f"{summary['dataset']}: {summary['queries']} queries against "
        f"{summary['pool']} candidates")
  names = list(metrics.DEFAULT_METRICS)
  print(f"{'ranker':<16}" + "".join(f"{m:>11}" for m in names)
        + f"{'seconds':>9}")
  for name, row in summary["rankers"].items():
    print(f"{name:<16}" + "".join(f"{row[m]:11.4f}" for m in names)
          + f"{row['seconds']:9.1f}")
  print(f"recall@k plot: {plot}")
  return 0
