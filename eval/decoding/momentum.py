"""Momentum decoding report: repetition and NLL against greedy decoding.

    python -m eval decoding --system momentum

Decodes the prompts three ways at one forward per token: greedily, with
momentum decoding at the released settings (alpha 0.2, the "ours"
resistance table, up to 2000 candidates), and with the plain soft 4-gram
penalty (p(c) - 0.2 for a candidate completing a 4-gram already in the
context). Each output gets its repeated-4-gram rate and its mean NLL under
the model without any penalty.
"""

import numpy as np
from jax import numpy as jnp

from eval.decoding.timing import timed
from ops.decoding.metrics import continuation_nll, repeated_ngram_rate
from ops.decoding.momentum import momentum_generate, soft_ngram_table
from ops.decoding.sampling import generate
from train.store import lm as lm_store

ALPHA = 0.2
TOP_K = 2000


def report(target: lm_store.Target, prompts, new_tokens: int) -> dict:
  """Momentum decoding and the soft 4-gram penalty beside greedy.

  Args:
    target: the target LM.
    prompts: [B, P] int32 held-out prompts.
    new_tokens: T.

  Returns:
    Flat metrics: rep-4 and NLL per method, their changes from greedy,
    tokens per second and forwards per token.
  """
  lm = target.lm
  prompts = jnp.asarray(prompts, jnp.int32)
  top_k = min(TOP_K, lm.vocab_size)
  greedy, greedy_s = timed(generate, lm, prompts, new_tokens)
  momentum, momentum_s = timed(momentum_generate, lm, prompts, new_tokens,
                               top_k=top_k, alpha=ALPHA)
  soft = momentum_generate(lm, prompts, new_tokens, top_k=top_k, alpha=ALPHA,
                           resistance=soft_ngram_table(4))
  outputs = {"greedy": greedy.tokens, "momentum": momentum.tokens,
             "soft_4gram": soft.tokens}
  rep4 = {name: repeated_ngram_rate(np.asarray(out), 4)
          for name, out in outputs.items()}
  nll = {name: float(jnp.mean(continuation_nll(lm, prompts, out)))
         for name, out in outputs.items()}
  tokens = prompts.shape[0] * new_tokens
  # Undefined (nan) where greedy repeats nothing: a short run may not.
  reduction = lambda name: (1 - rep4[name] / rep4["greedy"]
                            if rep4["greedy"] else float("nan"))
  return {
      "target_forwards_per_token": float(momentum.forward_calls) / new_tokens,
      "tokens_per_second": tokens / momentum_s,
      "greedy_tokens_per_second": tokens / greedy_s,
      "time_ratio_to_greedy": momentum_s / greedy_s,
      **{f"rep4_{name}": rate for name, rate in rep4.items()},
      **{f"nll_{name}": value for name, value in nll.items()},
      "rep4_reduction": reduction("momentum"),
      "nll_increase": nll["momentum"] / nll["greedy"] - 1,
      "rep4_reduction_soft_4gram": reduction("soft_4gram"),
      "nll_increase_soft_4gram": nll["soft_4gram"] / nll["greedy"] - 1,
      "changed_token_fraction": float(np.mean(
          np.asarray(momentum.tokens) != np.asarray(greedy.tokens))),
  }
