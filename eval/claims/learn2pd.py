"""Learn2PD's claim: a learned filter cuts forward passes, not accuracy.

Setting: the list-task MDM of `train.store.mdm` (see
eval/claims/parallelbench.py) on the first `NUM_TEST` test examples of
`parallelbench_lists` (blocks of 8, 24-token answers, greedy). The filter
(8 -> 8 -> 8 MLP) is fitted with BCE on EGP labels of 512 train-split
prompts and its threshold calibrated on 500 other train-split examples
(`zoo.decoding.learn2pd.fit_filter`: the most parallel of 0.9 ... 0.999 within 1
point of one token per step there); a masked position is unmasked when the
filter's probability exceeds it, the most confident one always, and
end-of-text prediction truncates the canvas after an EOS.

Records: NFE of one token per step over Learn2PD's (at least 2.5x);
accuracy lost against one token per step (at most 1 point); what
end-of-text prediction adds on top of the filter (the spec's toy target,
at least 1.5x fewer NFE); and the accuracy the filter alone loses at the
same threshold (at most 1 point). End-of-text prediction by itself raises
this model's accuracy (the decoded EOS tail fixes the answer's length), so
the end-to-end loss can hide what the filter costs; the last record does
not.
"""

import dataclasses

from eval.claims import measured
from eval.parallelbench import sweep
from train.store import mdm as mdm_store
from zoo.decoding import learn2pd

NUM_TEST = 1000


def check():
  mdm = mdm_store.load()
  fitted = sweep.fit_filter(mdm)
  examples, prompts = sweep.load_examples(NUM_TEST)
  sampler = learn2pd.sampler(fitted.threshold)
  runs = {name: sweep.evaluate(mdm, examples, prompts, setting,
                               learned_filter=fitted.filter)
          for name, setting in (
              ("one_per_step", learn2pd.ONE_PER_STEP),
              ("filter", dataclasses.replace(sampler, eot_truncation=False)),
              ("learn2pd", sampler))}
  base, fast = runs["one_per_step"], runs["learn2pd"]
  setting = (f"threshold {fitted.threshold:g}; NFE {base.mean_nfe:.1f} -> "
             f"{fast.mean_nfe:.2f}, accuracy {base.accuracy:.3f} -> "
             f"{fast.accuracy:.3f}; filter alone NFE "
             f"{runs['filter'].mean_nfe:.2f}, accuracy "
             f"{runs['filter'].accuracy:.3f}; EGP oracle NFE "
             f"{fitted.egp_nfe:.2f}")
  return [
      measured("learn2pd", f"NFE >= 2.5x fewer than one token per step "
               f"({setting}; baseline: its NFE)", "nfe_reduction",
               base.mean_nfe / fast.mean_nfe, base.mean_nfe, 2.5),
      measured("learn2pd", "accuracy loss <= 1 point against one token per "
               "step (baseline: its accuracy)", "accuracy_loss_points",
               100 * (base.accuracy - fast.accuracy), base.accuracy, 1.0,
               higher_is_better=False),
      measured("learn2pd", "end-of-text prediction: >= 1.5x fewer NFE on top "
               "of the filter (baseline: the filter's NFE)",
               "eotp_nfe_reduction", runs["filter"].mean_nfe / fast.mean_nfe,
               runs["filter"].mean_nfe, 1.5),
      measured("learn2pd", "filter alone (no end-of-text prediction): "
               "accuracy loss <= 1 point against one token per step "
               "(baseline: its accuracy)", "filter_accuracy_loss_points",
               100 * (base.accuracy - runs["filter"].accuracy),
               base.accuracy, 1.0, higher_is_better=False),
  ]
