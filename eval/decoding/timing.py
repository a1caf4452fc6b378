"""Timing of decoding runs for the reports: warm-up, then medians."""

import time
from collections.abc import Callable

import jax
import numpy as np
from jax import numpy as jnp


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
