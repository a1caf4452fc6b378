"""Text statistics used by the decoding reports and claims."""

import time
from collections.abc import Callable

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


def each_prompt(decode: Callable, prompts) -> tuple[list, float]:
  """decode(prompt [1, P]) for every prompt, and the seconds they took.

  The first prompt is decoded once before timing (compilation).
  """
  prompts = jnp.asarray(prompts, jnp.int32)
  jax.block_until_ready(decode(prompts[:1]))
  start = time.perf_counter()
  outputs = jax.block_until_ready([decode(p[None]) for p in prompts])
  return outputs, time.perf_counter() - start


def clocked(fn: Callable, *args, repeats: int = 3, **kwargs):
  """(result, median wall seconds, median process CPU seconds) of
  fn(*args) after one warm-up (compile) call.

  On a shared machine the CPU time is the steadier measure of cost; XLA's
  threads all count in it.
  """
  result = jax.block_until_ready(fn(*args, **kwargs))
  wall, cpu = [], []
  for _ in range(repeats):
    start, start_cpu = time.perf_counter(), time.process_time()
    jax.block_until_ready(fn(*args, **kwargs))
    wall.append(time.perf_counter() - start)
    cpu.append(time.process_time() - start_cpu)
  return result, float(np.median(wall)), float(np.median(cpu))


def timed(fn: Callable, *args, repeats: int = 3, **kwargs):
  """(result, median wall seconds) of fn(*args); see `clocked`."""
  result, wall, _ = clocked(fn, *args, repeats=repeats, **kwargs)
  return result, wall


def continuation_nll(lm, prompts, continuations) -> jax.Array:
  """[B] mean NLL per token of continuations [B, T] after prompts [B, P].

  `lm(tokens)` gives full-sequence logits (a `CachedLM`).
  """
  tokens = jnp.concatenate([prompts, continuations], axis=1)
  logprobs = jax.nn.log_softmax(lm(tokens[:, :-1]), axis=-1)
  gold = jnp.take_along_axis(logprobs, tokens[:, 1:, None], axis=-1)[..., 0]
  return -jnp.mean(gold[:, prompts.shape[1] - 1:], axis=1)
