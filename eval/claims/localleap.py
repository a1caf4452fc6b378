"""LocalLeap's claim: fewer steps than the threshold rule, same accuracy.

Setting: the list-task MDM of `train.store.mdm` (see
eval/claims/parallelbench.py) on the first `NUM_TEST` test examples of
`parallelbench_lists` (blocks of 8, 24-token answers, greedy). Fast-dLLM's
threshold rule at 0.9 against LocalLeap with anchors at 0.9 and a relaxed
threshold of 0.75 within radius 4 (the released defaults).

Records: the threshold rule's steps over LocalLeap's (at least 1.3x, the
toy target of the research notes; the issue asks for fewer); accuracy lost
against the threshold rule (at most 1 point); and, as a sensitivity check,
the step reduction with radius 1: the released radius covers 4 of LLaDA's
32-token blocks but half of these 8-token ones, where any anchor relaxes
almost the whole block. The steps as a share of one token per step (the
paper reports 14.2%) are in the claim texts.
"""

from eval.claims import measured
from eval.parallelbench import sweep
from ops.decoding.unmask import UnmaskRule
from train.store import mdm as mdm_store
from zoo.decoding.sampler import Sampler

NUM_TEST = 1000
SAMPLERS = {
    "one_per_step": UnmaskRule("confidence", k=1),
    "threshold": UnmaskRule("threshold", threshold=0.9),
    "localleap": UnmaskRule("localleap", threshold=0.9,
                            relaxed_threshold=0.75, radius=4),
    "localleap_r1": UnmaskRule("localleap", threshold=0.9,
                               relaxed_threshold=0.75, radius=1),
}


def check():
  mdm = mdm_store.load()
  examples, prompts = sweep.load_examples(NUM_TEST)
  runs = {name: sweep.evaluate(mdm, examples, prompts, Sampler(rule))
          for name, rule in SAMPLERS.items()}
  base, thr = runs["one_per_step"], runs["threshold"]

  def setting(name):
    leap = runs[name]
    return (f"steps {thr.mean_nfe:.2f} -> {leap.mean_nfe:.2f} "
            f"({100 * leap.mean_nfe / base.mean_nfe:.1f}% of one token per "
            f"step), accuracy {thr.accuracy:.3f} -> {leap.accuracy:.3f}")

  leap, narrow = runs["localleap"], runs["localleap_r1"]
  return [
      measured("localleap", f">= 1.3x fewer steps than threshold 0.9 "
               f"({setting('localleap')}; baseline: threshold steps)",
               "step_reduction", thr.mean_nfe / leap.mean_nfe, thr.mean_nfe,
               1.3),
      measured("localleap", "accuracy loss <= 1 point against threshold 0.9 "
               "(baseline: its accuracy)", "accuracy_loss_points",
               100 * (thr.accuracy - leap.accuracy), thr.accuracy, 1.0,
               higher_is_better=False),
      measured("localleap", f"sensitivity: radius 1, >= 1.3x fewer steps "
               f"({setting('localleap_r1')}; baseline: threshold steps)",
               "step_reduction_radius1", thr.mean_nfe / narrow.mean_nfe,
               thr.mean_nfe, 1.3),
  ]
