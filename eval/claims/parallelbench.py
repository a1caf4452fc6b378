"""ParallelBench's claim: parallel decoding fails where tokens depend.

Setting: the list-task MDM of `train.store.mdm`
(train/configs/mdm_lists.py: 4 layers, width 96, 6000 steps, trained once
into the user cache by the first check that needs it: 55 minutes on two
heavily shared CPU cores) on the first `NUM_TEST` test examples of
`parallelbench_lists` (all ten tasks; 16-token prompt, 24-token answer,
blocks of 8), decoded greedily k tokens per step by confidence, k = 1, 2,
4, 8.

Records: shuffle's accuracy drop from k = 1 to k = 8 (at least 50 points:
its correct answers are n! permutations, so positions decoded together
clash); copy's drop (at most 2 points: one correct answer, no dependency
between positions); and the perfect-marginal oracle against shuffle's
closed form (4 names, k = 1, 2, 4, sampling; the largest deviation in
binomial standard errors, at most 3); and whether the threshold rule (0.9)
adapts, as the paper says it does not: its tokens per step on shuffle over
those on copy (the paper's reading holds at >= 0.9, no reduction).
"""

import jax
import numpy as np

from eval.claims import measured
from eval.parallelbench import oracle, sweep
from ops.decoding.unmask import UnmaskRule
from train.store import mdm as mdm_store
from zoo.decoding.sampler import Sampler

NUM_TEST = 1000
ORACLE_EXAMPLES = 2000
PER_STEP = (1, 2, 4, 8)


def check():
  mdm = mdm_store.load()
  examples, prompts = sweep.load_examples(NUM_TEST)
  results = {k: sweep.evaluate(mdm, examples, prompts,
                               Sampler(UnmaskRule("confidence", k=k)))
             for k in PER_STEP}
  threshold = sweep.evaluate(mdm, examples, prompts, Sampler(
      UnmaskRule("threshold", threshold=0.9)))
  tps = {task: threshold.task_tokens_per_step(task)
         for task in ("shuffle", "copy")}
  drop = {task: results[1].task_accuracy(task)
          - results[PER_STEP[-1]].task_accuracy(task)
          for task in ("shuffle", "copy")}
  curve = {task: ", ".join(f"k={k}: {r.task_accuracy(task):.3f}"
                           for k, r in results.items())
           for task in ("shuffle", "copy")}
  rows = oracle.sampled_accuracy(jax.random.key(0),
                                 num_examples=ORACLE_EXAMPLES)
  z = [abs(row["accuracy"] - row["closed_form"]) / max(np.sqrt(
      row["closed_form"] * (1 - row["closed_form"]) / ORACLE_EXAMPLES),
      1e-9) for row in rows if row["task"] == "shuffle"]
  copy_exact = min(row["accuracy"] for row in rows if row["task"] == "copy")
  return [
      measured("parallelbench", f"shuffle accuracy drops >= 50 points from "
               f"1 to {PER_STEP[-1]} tokens per step ({curve['shuffle']}; "
               "baseline: k=1 accuracy)", "shuffle_accuracy_drop",
               drop["shuffle"], results[1].task_accuracy("shuffle"), 0.5),
      measured("parallelbench", f"copy accuracy stays flat, drop <= 2 points "
               f"({curve['copy']}; baseline: k=1 accuracy)",
               "copy_accuracy_drop", drop["copy"],
               results[1].task_accuracy("copy"), 0.02,
               higher_is_better=False),
      measured("parallelbench", "perfect-marginal oracle matches shuffle's "
               "closed form (1.0, 0.375, 0.094 at k = 1, 2, 4) within 3 "
               f"standard errors (baseline: oracle copy accuracy "
               f"{copy_exact:.3f})", "oracle_max_z", max(z), copy_exact, 3.0,
               higher_is_better=False),
      measured("parallelbench", "threshold 0.9 fails to reduce tokens per "
               f"step on shuffle: shuffle / copy tokens per step >= 0.9 "
               f"(shuffle {tps['shuffle']:.2f} at accuracy "
               f"{threshold.task_accuracy('shuffle'):.3f}, one token per "
               f"step {results[1].task_accuracy('shuffle'):.3f}; baseline: "
               "copy tokens per step)", "threshold_shuffle_over_copy_tps",
               tps["shuffle"] / tps["copy"], tps["copy"], 0.9),
  ]
