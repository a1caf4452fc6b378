"""ADED report: acceptance as the trigram table adapts, beside prompt lookup.

    python -m eval decoding --system aded --new-tokens 192

The table starts from the trigrams of the target's training split
(`lm_store.train_tokens`). Each prompt is decoded alone (batch 1), in order:
`aded` carries the adapted table from prompt to prompt, `aded_fresh`
restarts every prompt from the corpus table (it adapts within one
generation only), `aded_frozen` never updates it, and prompt lookup
(3-gram match, 8 drafted tokens) is the retrieval baseline. Besides the
metrics of `eval.decoding.token_recycling.summary`, the first and last
quarter of the generations get `*_quarter{1,4}_accepted_length`: the mean
tokens appended by the tree forwards that start in that quarter of the new
tokens. Adaptation shows as aded_fresh rising more than aded_frozen (both
see the same text getting more or less repetitive).
"""

import dataclasses

import numpy as np

from eval.decoding.token_recycling import (
  PROMPT_LOOKUP,
  Run,
  run_drafter,
  run_greedy,
  summary,
)
from ops.decoding.aded import ADED, trigram_table_from_corpus
from train.store import lm as lm_store

DRAFTER = ADED(tree_size=32, num_simulations=64, exploration=1.0,
               max_depth=8)
FROZEN = dataclasses.replace(DRAFTER, adapt=False)


def quarter_accepted_length(run: Run, quarter: int) -> float:
  """Mean tokens per tree forward starting in quarter 1..4 of the output."""
  steps = run.step_tokens[:, 1:]  # the prefill is no tree forward
  new_tokens = run.step_tokens.shape[1]
  # Tokens present before each forward: the prefill's one plus earlier ones.
  before = 1 + np.cumsum(steps, axis=1) - steps
  lo, hi = (quarter - 1) * new_tokens / 4, quarter * new_tokens / 4
  chosen = (steps > 0) & (before >= lo) & (before < hi)
  return float(steps[chosen].mean()) if chosen.any() else 0.0


def report(target: lm_store.Target, prompts, new_tokens: int) -> dict:
  """ADED (hot, fresh per prompt, frozen) and prompt lookup beside greedy.

  Args:
    target: the target LM.
    prompts: [num, P] int32 held-out prompts.
    new_tokens: N (long generations show the adaptation best).

  Returns:
    Flat metrics, `<method>_<metric>` for aded, aded_fresh, aded_frozen and
    prompt_lookup, plus greedy_tokens_per_second.
  """
  lm = target.lm
  table = trigram_table_from_corpus(lm_store.train_tokens(target))
  greedy = run_greedy(lm, prompts, new_tokens)
  runs = {
      "aded": run_drafter(lm, prompts, new_tokens, DRAFTER, table),
      "aded_fresh": run_drafter(lm, prompts, new_tokens, DRAFTER, table,
                                hot=False),
      "aded_frozen": run_drafter(lm, prompts, new_tokens, FROZEN, table),
      "prompt_lookup": run_drafter(lm, prompts, new_tokens, PROMPT_LOOKUP,
                                   ()),
  }
  result = {"greedy_tokens_per_second": greedy.tokens.size / greedy.seconds}
  for name, run in runs.items():
    result.update(summary(name, run, greedy))
    for quarter in (1, 4):
      result[f"{name}_quarter{quarter}_accepted_length"] = (
          quarter_accepted_length(run, quarter))
  return result
