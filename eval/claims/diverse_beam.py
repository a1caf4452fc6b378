"""Diverse beam search's claim: more diverse lists at a similar top-1.

Setting: the "text" target LM (`train.store.lm`), 20 held-out prompts
of 64 tokens, 32 new tokens; beam search with B = 6 against diverse beam
search with G = 3 groups of 2 and Hamming penalty 0.5 (`eval.decoding.
diverse_beam`). Distinct-2 is over each prompt's 6 outputs, averaged over
prompts; top-1 is the model log-prob of the top-ranked output, averaged.
The target's held-out loss and greedy repeated-4-gram rate are printed in
the claim: on a target that loops, diversity numbers describe the loops.

The top-1 claim's precondition, measured beside it: diverse beam search's
first group is beam search of width B / G = 2, so its top-1 can come
within 10% of width 6's only if a narrow beam nearly finds the wide one's
best, or another group does better. The claim text prints the top-1 of
beam search at width 2 and its drop against width 6.
"""

from eval.claims import measured
from eval.decoding import diverse_beam
from train.store import lm as lm_store

PROMPTS, PROMPT_LEN, NEW_TOKENS = 20, 64, 32


def check():
  target = lm_store.load_target("text")
  prompts = lm_store.heldout_prompts(target, PROMPTS, PROMPT_LEN)
  r = diverse_beam.report(target, prompts, NEW_TOKENS)
  setting = (f"B={diverse_beam.BEAMS}, G={diverse_beam.GROUPS}, lambda="
             f"{diverse_beam.PENALTY}, {PROMPTS} held-out prompts, "
             f"{NEW_TOKENS} new tokens; target val loss "
             f"{target.val_loss:.3f} nats/token, greedy rep-4 "
             f"{target.greedy_rep4:.3f}")
  return [
      measured("diverse_beam", f"distinct-2 over the outputs >= 1.2x beam "
               f"search's ({setting}; DBS {r['diverse_distinct2']:.4f}; "
               "value: ratio; baseline: beam distinct-2)",
               "distinct2_ratio", r["distinct2_ratio"], r["beam_distinct2"],
               1.2),
      measured("diverse_beam", f"top-1 log-prob within 10% of beam "
               f"search's (DBS {r['diverse_top1_log_prob']:.3f}; "
               f"precondition: beam search of one group's width "
               f"{diverse_beam.BEAMS // diverse_beam.GROUPS} reaches "
               f"{r['narrow_beam_top1_log_prob']:.3f}, "
               f"{r['narrow_top1_log_prob_drop']:.1%} below width "
               f"{diverse_beam.BEAMS}; value: relative drop; baseline: beam "
               "top-1 log-prob)",
               "top1_log_prob_drop", r["top1_log_prob_drop"],
               r["beam_top1_log_prob"], 0.10, higher_is_better=False),
  ]
