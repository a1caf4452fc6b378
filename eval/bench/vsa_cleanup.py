"""VSA cleanup and algebra beside torchhd's MAP model (CPU, `compare` extra).

Checks that `zoo.interp.vsa` agrees with torchhd exactly (bind, a 3-way
bundle, cleanup ids on random queries), then times cleanup of N real-valued
queries against K codes of size D: ours (`ops.vq_nearest`, cosine), a plain
jnp brute force, and torchhd's cos + argmax; median of REPEATS after a
warm-up.

    python -m eval.bench.vsa_cleanup
"""

import statistics
import time

import jax
import numpy as np
from jax import numpy as jnp

from zoo.interp import vsa

D, K, N = 4096, 1000, 1024
REPEATS = 20


def _median_seconds(fn) -> float:
  fn()
  times = []
  for _ in range(REPEATS):
    start = time.perf_counter()
    fn()
    times.append(time.perf_counter() - start)
  return statistics.median(times)


def main():
  import torch
  import torchhd

  torch.set_num_threads(2)
  codes = vsa.random_codebook(jax.random.key(0), K, D)
  t_codes = torchhd.MAPTensor(torch.from_numpy(np.asarray(codes)))
  assert np.array_equal(vsa.bind(codes[0], codes[1]),
                        torchhd.bind(t_codes[0], t_codes[1]).numpy())
  bundled = torchhd.hard_quantize(torchhd.multibundle(t_codes[:3]))
  assert np.array_equal(vsa.bundle(codes[:3], vsa.tie_breaker(D)),
                        bundled.numpy())
  queries = np.random.default_rng(1).normal(size=(N, D)).astype(np.float32)
  ours = jax.jit(lambda x: vsa.cleanup(x, codes)[0])
  t_queries = torch.from_numpy(queries)
  assert np.array_equal(ours(jnp.asarray(queries)),
                        torchhd.cos(t_queries, t_codes).argmax(-1).numpy())
  print("agreement: bind, 3-way bundle and cleanup ids equal torchhd's")

  unit = codes / jnp.sqrt(D)
  brute = jax.jit(lambda x: jnp.argmax(
      (x / jnp.linalg.norm(x, axis=-1, keepdims=True)) @ unit.T, -1))
  x = jnp.asarray(queries)
  rows = {
      "zoo vsa.cleanup (ops.vq_nearest, cos)":
          lambda: ours(x).block_until_ready(),
      "jnp brute force (normalise, matmul, argmax)":
          lambda: brute(x).block_until_ready(),
      "torchhd cos + argmax (torch, 2 threads)":
          lambda: torchhd.cos(t_queries, t_codes).argmax(-1),
  }
  flops = 2 * N * K * D
  print("| implementation | time | throughput |\n|---|---|---|")
  for name, fn in rows.items():
    s = _median_seconds(fn)
    print(f"| {name} | {s * 1e3:.1f} ms | {flops / s / 1e9:.1f} GFLOP/s |")


if __name__ == "__main__":
  main()
