"""LUD's claim: fewer forwards per token than greedy, at no quality cost.

Setting: the "text" target of `train.store.lm` (a 2.2M-parameter BPE
decoder trained on stdlib docstrings), fine-tuned once with
`train/configs/lud.py` (alpha = 0.9, units of at most 5 tokens, 150 steps);
20 held-out prompts of 64 tokens, 64 new tokens each, look-ahead m = 4,
beta = 0.9 (see `eval.decoding.lud`).

Three records: target forwards per token (at most 1 / 1.3, the paper's
about 33% faster generation; greedy needs 1.0); the fraction of prompts
whose LUD output equals the fine-tune's own greedy output exactly; and the
mean NLL of the LUD outputs under the target that was not fine-tuned, over
that of the target's greedy outputs (at most 1.02). The target's held-out
loss and greedy repeated-4-gram rate are in the claim text (a target that
loops makes a speed-up cheap), with the forwards per token of a perfect
look-ahead at this beta (see `eval.decoding.lud`). At this scale the
target is at least 90% sure of only about 4% of its greedy tokens, so even
a perfect look-ahead saves about 4% of the forwards: LUD rests on an LM
being confident about runs of tokens, which a model this small seldom is.
"""

from eval.claims import measured
from eval.decoding import lud
from train.store import lm as lm_store

NUM_PROMPTS, PROMPT_LEN, NEW_TOKENS = 20, 64, 64


def check():
  target = lm_store.load_target("text")
  prompts = lm_store.heldout_prompts(target, NUM_PROMPTS, PROMPT_LEN)
  r = lud.report(target, prompts, NEW_TOKENS)
  setting = (f"text target: val loss {target.val_loss:.3f}, greedy rep-4 "
             f"{target.greedy_rep4:.2f}; fine-tune val loss "
             f"{r['finetuned_val_loss']:.3f}; a perfect look-ahead would "
             f"need {r['ceiling_forwards_per_token']:.3f}")
  return [
      measured("lud", f"forwards per token <= 1/1.3 (baseline: greedy; "
               f"{setting})",
               "target_forwards_per_token", r["target_forwards_per_token"],
               1.0, 1 / 1.3, higher_is_better=False),
      measured("lud", "output == the fine-tuned model's greedy output "
               "(fraction of prompts; baseline: mean matching prefix "
               "fraction)", "exact_match_rate", r["exact_match_rate"],
               r["matching_prefix_fraction"], 1.0),
      measured("lud", "NLL of the outputs under the base model <= 1.02x its "
               "greedy outputs' (value: ratio; baseline: greedy NLL)",
               "nll_ratio_lud_to_target_greedy",
               r["nll_ratio_lud_to_target_greedy"], r["nll_target_greedy"],
               1.02, higher_is_better=False),
  ]
