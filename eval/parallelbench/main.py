"""`python -m eval parallelbench`: accuracy against parallelism, list tasks.

    python -m eval parallelbench [--workdir W] [--num 500] [--plot out.png]
        [--json] [--smoke]

First the perfect-marginal oracle: shuffle and copy of 4 names decoded k
tokens per step (k = 1, 2, 4) by sampling, beside shuffle's closed form.
Then the list-task MDM (trained once into the user cache, or `--workdir`)
on `--num` test examples with every unmasking rule at several settings:
top-k by confidence, margin, entropy and at random (k = 1, 2, 4, 8),
threshold, factor, LocalLeap and Learn2PD's filter with end-of-text
prediction (fitted and calibrated on train prompts; at its calibrated
threshold and at 0.9). Prints accuracy per task, mean NFE and tokens per
step, the PBx summary (the most tokens per step that keeps x% accuracy),
and saves the accuracy-versus-tokens-per-step plot with its Pareto front.
"""

import argparse
import json
import pathlib
import sys

import jax

from eval.parallelbench import oracle, sweep
from ops.decoding.unmask import UnmaskRule
from train.data import list_tasks
from zoo.decoding import learn2pd
from zoo.decoding.sampler import Sampler

SHORT = {"copy": "copy", "reverse": "rev", "sort": "sort", "shuffle": "shuf",
         "insert_index": "ins_i", "insert_random": "ins_r",
         "remove_index": "rem_i", "remove_random": "rem_r",
         "replace_index": "rep_i", "replace_random": "rep_r"}


def samplers(filter_thresholds=(0.9,)) -> list[Sampler]:
  """Every rule at several settings; Learn2PD's (with EoTP) come last."""
  rules = [UnmaskRule(kind, k=k)
           for kind in ("confidence", "margin", "entropy", "random")
           for k in (1, 2, 4, 8)]
  rules += [UnmaskRule("threshold", threshold=t)
            for t in (0.99, 0.9, 0.7, 0.5)]
  rules += [UnmaskRule("factor", factor=f) for f in (0.5, 1.0, 2.0, 4.0)]
  rules += [UnmaskRule("localleap", threshold=0.9, relaxed_threshold=r,
                       radius=4) for r in (0.75, 0.5)]
  out = [Sampler(rule) for rule in rules]
  return out + [learn2pd.sampler(t) for t in filter_thresholds]


def pb_summary(results: list[sweep.Result],
               levels=(90, 80, 70, 60)) -> dict[str, float]:
  """PBx: the most tokens per step of a setting with accuracy >= x%."""
  return {f"PB{x}": max([r.tokens_per_step for r in results
                         if r.accuracy * 100 >= x], default=0.0)
          for x in levels}


def pareto_front(points):
  """The (x, y) points no other point beats on both x and y, by x."""
  front = [p for p in points
           if not any(q[0] >= p[0] and q[1] >= p[1] and q != p
                      for q in points)]
  return sorted(front)


def plot(results: list[sweep.Result], path: pathlib.Path) -> None:
  """Accuracy against tokens per step, one line per rule, and the front."""
  import matplotlib

  matplotlib.use("Agg")  # no display needed
  from matplotlib import pyplot as plt

  series = {}
  for r in results:
    family = r.sampler.label().split("@")[0].split("=")[0]
    series.setdefault(family, []).append((r.tokens_per_step, r.accuracy))
  fig, ax = plt.subplots(figsize=(6.5, 4.2))
  for family, points in series.items():
    x, y = zip(*sorted(points))
    ax.plot(x, y, marker="o", markersize=4, label=family)
  x, y = zip(*pareto_front([(r.tokens_per_step, r.accuracy)
                            for r in results]))
  ax.plot(x, y, "k--", linewidth=1, label="Pareto front")
  ax.set_xscale("log", base=2)
  ax.set_xlabel("tokens per step")
  ax.set_ylabel("accuracy (10 list tasks)")
  ax.set_title("ParallelBench list tasks: accuracy vs parallelism",
               fontsize=9)
  ax.grid(alpha=0.3)
  ax.legend(fontsize=7)
  fig.tight_layout()
  path.parent.mkdir(parents=True, exist_ok=True)
  fig.savefig(path, dpi=110)
  plt.close(fig)


def table(results: list[sweep.Result]) -> str:
  tasks = list_tasks.TASKS
  head = (f"{'sampler':<26}{'tok/step':>9}{'nfe':>7}{'acc':>7}"
          + "".join(f"{SHORT[t]:>7}" for t in tasks))
  lines = [head, "-" * len(head)]
  for r in results:
    lines.append(f"{r.sampler.label():<26}{r.tokens_per_step:>9.2f}"
                 f"{r.mean_nfe:>7.1f}{r.accuracy:>7.3f}"
                 + "".join(f"{r.task_accuracy(t):>7.3f}" for t in tasks))
  return "\n".join(lines)


def run(workdir=None, num: int = 500, smoke: bool = False) -> dict:
  """The oracle rows and the trained model's results (see the docstring)."""
  from train.store import mdm as mdm_store

  key = jax.random.key(0)
  mdm = mdm_store.load(smoke=smoke, workdir=workdir)
  examples, prompts = sweep.load_examples(num)
  fitted = sweep.fit_filter(mdm, num_prompts=64 if smoke else 512,
                            num_calibration=64 if smoke else 500)
  thresholds = sorted({0.9, fitted.threshold})
  results = [sweep.evaluate(mdm, examples, prompts, s, key=key,
                            learned_filter=fitted.filter)
             for s in samplers(thresholds)]
  return {"oracle": oracle.sampled_accuracy(key), "results": results,
          "pb": pb_summary(results), "workdir": mdm.workdir}


def main(argv: list[str]) -> int:
  p = argparse.ArgumentParser(prog="python -m eval parallelbench",
                              description=__doc__,
                              formatter_class=argparse.RawTextHelpFormatter)
  p.add_argument("--workdir", help="a trained parallelbench (MDM) workdir; "
                 "default: train once into the user cache")
  p.add_argument("--num", type=int, default=500,
                 help="test examples (default 500)")
  p.add_argument("--plot", help="where to save the plot (default: "
                 "parallelbench_pareto.png in the model's workdir)")
  p.add_argument("--smoke", action="store_true",
                 help="a tiny model trained in seconds (checks the pipeline)")
  p.add_argument("--json", action="store_true", help="print JSON only")
  args = p.parse_args(argv)
  if args.num < 1:
    p.error(f"--num must be >= 1, got {args.num}")
  from zoo import cache

  cache.enable_compilation_cache()
  out = run(args.workdir, args.num, args.smoke)
  plot_path = pathlib.Path(
      args.plot or out["workdir"] / "parallelbench_pareto.png")
  plot(out["results"], plot_path)
  if args.json:
    print(json.dumps({
        "oracle": out["oracle"], "pb": out["pb"],
        "results": [{"sampler": r.sampler.label(),
                     "tokens_per_step": r.tokens_per_step,
                     "mean_nfe": r.mean_nfe, "accuracy": r.accuracy,
                     **{t: r.task_accuracy(t) for t in list_tasks.TASKS}}
                    for r in out["results"]]}))
    return 0
  print("perfect-marginal oracle, 4 names, k tokens per step (sampling):")
  for row in out["oracle"]:
    print(f"  {row['task']:<8} k={row['per_step']}  accuracy "
          f"{row['accuracy']:.3f}  closed form {row['closed_form']:.3f}")
  print(f"\nlist-task MDM, {args.num} test examples:")
  print(table(out["results"]))
  print("\n" + "  ".join(f"{k} {v:.2f}" for k, v in out["pb"].items()))
  print(f"plot: {plot_path}", file=sys.stderr)
  return 0
