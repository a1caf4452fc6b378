"""Token Recycling's claim: a train-free drafter that beats n-gram lookup.

Setting: the "text" target LM (`train.store.lm`), 20 held-out prompts
of 64 tokens, 128 new tokens each, decoded one prompt at a time with the
adjacency matrix kept across prompts (hot, from zeros at the first prompt);
the baseline is prompt lookup (3-gram match, 8 drafted tokens;
`eval.decoding.token_recycling`). Tokens per target forward count the
prefill too (greedy: 1.0). Every number is printed beside the target's
held-out loss and greedy repeated-4-gram rate: a target that loops (rate
above 0.5) lets any n-gram drafter accept long runs, so acceptance on it is
weak evidence.
"""


from eval.claims import measured
from eval.decoding import token_recycling as tr_report
from train.store import lm as lm_store

PROMPTS, PROMPT_LEN, NEW_TOKENS = 20, 64, 128


def check():
  target = lm_store.load_target("text")
  prompts = lm_store.heldout_prompts(target, PROMPTS, PROMPT_LEN)
  r = tr_report.report(target, prompts, NEW_TOKENS)
  setting = (f"{PROMPTS} held-out prompts x {NEW_TOKENS} new tokens, batch "
             f"1, hot matrix; target val loss {target.val_loss:.3f} "
             f"nats/token, greedy rep-4 {target.greedy_rep4:.3f}")
  tr64 = r["tr64_tokens_per_forward"]
  lookup = r["prompt_lookup_tokens_per_forward"]
  tr16 = r["tr16_tokens_per_forward"]
  lossless = min(r[f"{name}_equals_greedy"] for name in (
      "tr16", "tr64", "tr80", "tr64_cold", "prompt_lookup"))
  return [
      measured("token_recycling", f"> 1.5 tokens per target forward with "
               f"the 64-node tree ({setting}; cold start "
               f"{r['tr64_cold_tokens_per_forward']:.3f}, 80 nodes "
               f"{r['tr80_tokens_per_forward']:.3f})",
               "tokens_per_forward", tr64, None, 1.5),
      measured("token_recycling", "at least prompt lookup's tokens per "
               f"forward (3-gram, 8 drafted) on the same prompts ({setting};"
               " value: TR 64 nodes; baseline and threshold: prompt lookup)",
               "tokens_per_forward_vs_prompt_lookup", tr64, lookup, lookup),
      measured(
          "token_recycling", "the 64-node tree beats the 16-node tree "
          f"({setting}; value: 64 nodes; baseline and threshold: 16 nodes)",
          "tokens_per_forward_64_vs_16", tr64, tr16, tr16, strict=True),
      measured("token_recycling", "output equals greedy decoding on 100% of "
               f"prompts (every tree size, hot and cold, and prompt lookup; "
               f"{setting})", "equals_greedy_fraction", lossless, None, 1.0),
  ]
