"""ADED's claim: drafts improve as the trigram table adapts to the target.

Setting: the "text" target LM (`train.store.lm`); the table starts
from the trigrams of its training split; 12 held-out prompts of 32 tokens,
224 new tokens each (the model's 256-token training window), decoded one
prompt at a time with 32-node trees from 64 simulations
(`eval.decoding.aded`). Acceptance is the mean number of tokens a tree
forward appends, in the first and the last quarter of each generation, with
the table restarted from the corpus at every prompt so that only the
adaptation within one generation counts. The same drafter with a frozen
table is the baseline: text often grows more repetitive as it goes, which
lifts any drafter. Every number is printed beside the target's held-out
loss and greedy repeated-4-gram rate.
"""


from eval.claims import measured
from eval.decoding import aded as aded_report
from train.store import lm as lm_store

PROMPTS, PROMPT_LEN, NEW_TOKENS = 12, 32, 224


def _rise(r: dict, method: str) -> float:
  return (r[f"{method}_quarter4_accepted_length"]
          - r[f"{method}_quarter1_accepted_length"])


def check():
  target = lm_store.load_target("text")
  prompts = lm_store.heldout_prompts(target, PROMPTS, PROMPT_LEN)
  r = aded_report.report(target, prompts, NEW_TOKENS)
  setting = (f"{PROMPTS} held-out prompts x {NEW_TOKENS} new tokens, batch "
             f"1; target val loss {target.val_loss:.3f} nats/token, greedy "
             f"rep-4 {target.greedy_rep4:.3f}")
  rise, frozen_rise = _rise(r, "aded_fresh"), _rise(r, "aded_frozen")
  lossless = min(r[f"{name}_equals_greedy"] for name in (
      "aded", "aded_fresh", "aded_frozen", "prompt_lookup"))
  return [
      measured(
          "aded", "accepted tokens per tree forward rise from the first to "
          "the last quarter of a generation as the table adapts ("
          f"{setting}; quarter 1 "
          f"{r['aded_fresh_quarter1_accepted_length']:.3f}, quarter 4 "
          f"{r['aded_fresh_quarter4_accepted_length']:.3f}; value: the "
          "rise; baseline: the rise with a frozen table)",
          "accepted_length_rise", rise, frozen_rise, 0.0, strict=True),
      measured("aded", "the rise exceeds the frozen table's by >= 0.1 "
               f"tokens per forward ({setting}; value: adaptive rise minus "
               "frozen rise; baseline: frozen rise)",
               "accepted_length_rise_over_frozen", rise - frozen_rise,
               frozen_rise, 0.1),
      measured("aded", "> 1.5 tokens per target forward with the table "
               f"kept across prompts ({setting}; prompt lookup "
               f"{r['prompt_lookup_tokens_per_forward']:.3f}, frozen table "
               f"{r['aded_frozen_tokens_per_forward']:.3f})",
               "tokens_per_forward", r["aded_tokens_per_forward"], None,
               1.5),
      measured("aded", "output equals greedy decoding on 100% of prompts "
               f"(hot, fresh and frozen tables, and prompt lookup; "
               f"{setting})", "equals_greedy_fraction", lossless, None, 1.0),
  ]
