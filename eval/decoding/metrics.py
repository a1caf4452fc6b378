"""Text statistics used by the decoding reports and claims."""

import time
from collections.abc import Callable

import jax
import numpy as np


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


def timed(fn: Callable, *args, repeats: int = 3, **kwargs):
  """(result, median seconds) of fn(*args) after one warm-up (compile) call."""
  result = jax.block_until_ready(fn(*args, **kwargs))
  times = []
  for _ in range(repeats):
    start = time.perf_counter()
    jax.block_until_ready(fn(*args, **kwargs))
    times.append(time.perf_counter() - start)
  return result, float(np.median(times))
