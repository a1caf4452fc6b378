"""Statistics of generated text: repetition, diversity, likelihood.

Used by the decoding reports and claims, and by the trained-model store's
degeneracy diagnostic (greedy repeated-4-gram rate).
"""

import jax
import numpy as np
from jax import numpy as jnp


def repeated_ngram_rate(tokens, n: int = 4) -> float:
  """Fraction of the n-grams of each row that already occurred in that row.

  Args:
    tokens: [B, T] ints (generated tokens only).
    n: n-gram length.

  Returns:
    The mean over rows (rows shorter than n count as 0).
  """
  rates = []
  for row in np.asarray(tokens):
    grams = [tuple(row[i:i + n]) for i in range(len(row) - n + 1)]
    if not grams:
      rates.append(0.0)
      continue
    rates.append(1.0 - len(set(grams)) / len(grams))
  return float(np.mean(rates))


def distinct_n(sequences, n: int = 2) -> float:
  """Distinct n-grams / all n-grams over a list of token sequences."""
  grams = [tuple(s[i:i + n]) for s in sequences
           for i in range(len(s) - n + 1)]
  return len(set(grams)) / max(1, len(grams))


def mean_distinct_n(groups, n: int = 2) -> float:
  """Mean of `distinct_n` over groups [B, k, T] (each prompt's k outputs)."""
  return float(np.mean([distinct_n(list(group), n)
                        for group in np.asarray(groups)]))


def continuation_nll(lm, prompts, continuations) -> jax.Array:
  """[B] mean NLL per token of continuations [B, T] after prompts [B, P].

  `lm(tokens)` gives full-sequence logits (a `CachedLM`).
  """
  tokens = jnp.concatenate([prompts, continuations], axis=1)
  logprobs = jax.nn.log_softmax(lm(tokens[:, :-1]), axis=-1)
  gold = jnp.take_along_axis(logprobs, tokens[:, 1:, None], axis=-1)[..., 0]
  return -jnp.mean(gold[:, prompts.shape[1] - 1:], axis=1)
