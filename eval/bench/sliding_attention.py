"""Sliding-window against full causal attention in XLA, one host.

    python -m eval.bench.sliding_attention

T = 1,024, B = 8, 4 heads of 32, f32: `ops.prefix_attention` (XLA) under
the causal mask and under `ops.sliding_window_mask(T, w)` for w = 128 and
32, and `ops.windowed_attention` (by positions) at w = 128. A mask does
not skip work in dense XLA attention, so the masked rows cost what full
ones do; a band-skipping kernel would be needed for the saving. Median of
7 after warm-up, forward and forward + backward; prints a markdown table.
"""

import platform

import jax
from jax import numpy as jnp

from eval.bench.harness import median_ms
from ops.attention import (
    causal_mask,
    prefix_attention,
    sliding_window_mask,
    windowed_attention,
)

B, T, H, D = 8, 1024, 4, 32


def main():
  keys = jax.random.split(jax.random.key(0), 3)
  q, k, v = (jax.random.normal(key, (B, T, H, D)) for key in keys)
  start = jnp.zeros((B,), jnp.int32)
  positions = jnp.broadcast_to(jnp.arange(T), (B, T))
  cases = {
      "full causal (prefix_attention)": lambda q, k, v: prefix_attention(
          q, k, v, start, causal_mask(T), implementation="xla"),
      "window 128 (prefix_attention + mask)": lambda q, k, v:
          prefix_attention(q, k, v, start, sliding_window_mask(T, 128),
                           implementation="xla"),
      "window 32 (prefix_attention + mask)": lambda q, k, v:
          prefix_attention(q, k, v, start, sliding_window_mask(T, 32),
                           implementation="xla"),
      "window 128 (windowed_attention)": lambda q, k, v: windowed_attention(
          q, k, v, positions, positions, 128),
  }
  print(f"B={B} T={T} H={H} D={D} f32 on "
        f"{platform.processor() or platform.machine()}, jax "
        f"{jax.__version__} ({jax.default_backend()})\n")
  print("| attention | forward (ms) | forward + backward (ms) |")
  print("|---|---|---|")
  for name, fn in cases.items():
    forward = jax.jit(fn)
    backward = jax.jit(jax.grad(lambda q, k, v, fn=fn: fn(q, k, v).sum(),
                                argnums=(0, 1, 2)))
    print(f"| {name} | {median_ms(forward, [(q, k, v)]):.1f} | "
          f"{median_ms(backward, [(q, k, v)]):.1f} |", flush=True)


if __name__ == "__main__":
  main()
