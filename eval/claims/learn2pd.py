"""Learn2PD's claim: a learned filter cuts forward passes, not accuracy.

Setting: the list-task MDM of `eval.parallelbench.model` (see
eval/claims/parallelbench.py) on the first `NUM_TEST` test examples of
`parallelbench_lists` (blocks of 8, 32-token answers, greedy). The filter
(8 -> 8 -> 8 MLP) is fitted with BCE on EGP labels of 512 train-split
prompts (`eval.parallelbench.filter`); a masked position is unmasked when
the filter's probability exceeds 0.9, the most confident one always, and
end-of-text prediction truncates the canvas after an EOS.

Records: NFE of one token per step over Learn2PD's (at least 2.5x);
accuracy lost against one token per step (at most 1 point); and what
end-of-text prediction adds on top of the filter (the spec's toy target,
at least 1.5x fewer NFE).
"""

from eval.claims import measured
from eval.parallelbench import filter as filter_lib
from eval.parallelbench import model, sweep
from ops.decoding.unmask import UnmaskRule

NUM_TEST = 1000
FILTER_THRESHOLD = 0.9


def check():
  mdm = model.load()
  learned = filter_lib.fit(mdm)
  examples, prompts = sweep.test_examples(NUM_TEST)
  filter_rule = UnmaskRule("filter", threshold=FILTER_THRESHOLD)
  runs = {name: sweep.evaluate(mdm, examples, prompts, sampler,
                               learned_filter=learned)
          for name, sampler in (
              ("one_per_step", filter_lib.ONE_PER_STEP),
              ("filter", sweep.Sampler(filter_rule)),
              ("learn2pd", sweep.Sampler(filter_rule, eot_truncation=True)))}
  base, fast = runs["one_per_step"], runs["learn2pd"]
  setting = (f"NFE {base.mean_nfe:.1f} -> {fast.mean_nfe:.2f}, accuracy "
             f"{base.accuracy:.3f} -> {fast.accuracy:.3f}; filter alone "
             f"NFE {runs['filter'].mean_nfe:.2f}, accuracy "
             f"{runs['filter'].accuracy:.3f}")
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
  ]
