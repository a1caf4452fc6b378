"""Momentum decoding's claim: far fewer repetitions at a bounded NLL cost.

Setting: the "text" target LM (`train.store.lm`), 20 held-out prompts
of 64 tokens, 128 new tokens; greedy against momentum decoding at the
released settings (alpha 0.2, "ours" resistance table, 2000 candidates;
`eval.decoding.momentum`). Repetition is the repeated-4-gram rate of the
new tokens; quality is their mean NLL under the unpenalised model. The
target's held-out loss and greedy repeated-4-gram rate are printed in the
claim: a repetition cut means little on a target that hardly repeats.
"""

from eval.claims import measured
from eval.decoding import momentum as momentum_report
from train.store import lm as lm_store

PROMPTS, PROMPT_LEN, NEW_TOKENS = 20, 64, 128


def check():
  target = lm_store.load_target("text")
  prompts = lm_store.heldout_prompts(target, PROMPTS, PROMPT_LEN)
  r = momentum_report.report(target, prompts, NEW_TOKENS)
  setting = (f"alpha {momentum_report.ALPHA}, 'ours' table, "
             f"top-{momentum_report.TOP_K}, {PROMPTS} held-out prompts, "
             f"{NEW_TOKENS} new tokens; target "
             f"val loss {target.val_loss:.3f} nats/token, greedy rep-4 on "
             f"these prompts {r['rep4_greedy']:.3f}")
  return [
      measured("momentum", f">= 30% fewer repeated 4-grams than greedy "
               f"({setting}; momentum rep-4 {r['rep4_momentum']:.3f}; value: "
               "relative reduction; baseline: greedy rep-4)",
               "rep4_reduction", r["rep4_reduction"], r["rep4_greedy"], 0.30),
      measured("momentum", f"per-token NLL of the output <= 1.5x greedy's "
               f"(momentum {r['nll_momentum']:.3f}; value: relative "
               "increase; baseline: greedy NLL)",
               "nll_increase", r["nll_increase"], r["nll_greedy"], 0.50,
               higher_is_better=False),
  ]
