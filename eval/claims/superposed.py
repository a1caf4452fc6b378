"""Superposed Decoding's claims: k drafts for about the cost of one pass.

Setting: the "text" target of `train.store.lm` (a BPE decoder trained
on stdlib docstrings); 16 held-out prompts of 32 tokens, 32 new tokens; k =
3 drafts with the shipped settings (top 9 tokens, temperature 0.06, alpha =
0.54, n-grams of orders 2..6 counted from the target's training tokens);
see `eval.decoding.superposed`.

Records: forwards per generated position (1: the three drafts cost one
pass, three separate runs cost 3); wall-clock speed-up over three separate
nucleus runs (p = 0.9), against the paper's 2.44x for k >= 3; wall-clock
speed-up over three separate greedy runs (>= 1: it beats them); and the
best-of-3 mean NLL of the drafts against that of three nucleus samples.
The speed-ups measured in process CPU time are in the claim text: on a
shared machine the wall clock also counts other processes.
The target's held-out loss and greedy repeated-4-gram rate, and the "draft
1 == greedy" rate, are in the claim text.
"""

from eval.claims import measured
from eval.decoding import superposed
from train.store import lm as lm_store

NUM_PROMPTS, PROMPT_LEN, NEW_TOKENS = 16, 32, 32


def check():
  target = lm_store.load_target("text")
  prompts = lm_store.heldout_prompts(target, NUM_PROMPTS, PROMPT_LEN)
  r = superposed.report(target, prompts, NEW_TOKENS)
  setting = (f"text target: val loss {target.val_loss:.3f}, greedy rep-4 "
             f"{target.greedy_rep4:.2f}")
  return [
      measured("superposed", f"k = 3 drafts cost T forwards, not 3T (value: "
               f"forwards per position; baseline: three runs; {setting})",
               "target_forwards_per_token", r["target_forwards_per_token"],
               3.0, 1.0, higher_is_better=False),
      measured("superposed", "wall clock: >= 2.44x faster than three "
               f"separate nucleus runs (baseline: SPD seconds; process CPU "
               f"time: {r['cpu_speedup_vs_3_nucleus_runs']:.2f}x; "
               f"{setting})",
               "speedup_vs_3_nucleus_runs", r["speedup_vs_3_nucleus_runs"],
               r["spd_seconds"], 2.44),
      measured("superposed", "wall clock: beats three separate greedy runs "
               f"(baseline: SPD cost in greedy runs; process CPU time: "
               f"{r['cpu_speedup_vs_3_greedy_runs']:.2f}x; {setting})",
               "speedup_vs_3_greedy_runs", r["speedup_vs_3_greedy_runs"],
               r["spd_cost_in_greedy_runs"], 1.0),
      measured("superposed", "best-of-3 mean NLL of the drafts <= that of 3 "
               "nucleus samples (baseline and threshold: nucleus; draft 1 == "
               f"greedy on {r['draft1_equals_greedy']:.0%} of prompts, "
               f"agreeing on the first "
               f"{r['draft1_greedy_prefix_fraction']:.0%} of tokens; "
               f"distinct-2 across drafts "
               f"{r['spd_distinct2_across_drafts']:.2f} vs "
               f"{r['nucleus_distinct2_across_samples']:.2f})",
               "spd_best_of_3_nll", r["spd_best_of_3_nll"],
               r["nucleus_best_of_3_nll"], r["nucleus_best_of_3_nll"],
               higher_is_better=False),
  ]
