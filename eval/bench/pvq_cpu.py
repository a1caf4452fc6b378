"""PVQ on the CPU: quantization time and `pvq_matmul` against a dense matmul.

    python -m eval.bench.pvq_cpu

Quantizes Gaussian matrices at the claim's setting (D=8, K=13, 3-bit gain,
3.19 bits per weight), without and with a Hessian (GPTQ feedback), and
times y = x @ W_hat^T through `ops.pvq_matmul` (the XLA reference: unpack,
unindex and decode the whole matrix, then matmul) against a dense float32
x @ W^T. Medians after warm-up (`eval.bench.harness.median_ms`), compile
time excluded. Prints a markdown table.
"""

import time

import jax

from eval.bench import harness
from ops import pvq

SHAPES = ((256, 256), (512, 192), (192, 512), (1024, 1024))
BATCHES = (1, 64)


def _quantize_ms(w, hessian):
  fn = lambda: jax.block_until_ready(  # noqa: E731
      jax.tree.leaves(pvq.pvq_quantize(w, hessian=hessian)))
  fn()  # compile
  start = time.perf_counter()
  runs = 3
  for _ in range(runs):
    fn()
  return 1e3 * (time.perf_counter() - start) / runs


def main() -> int:
  print("| rows x cols | quantize ms | with Hessian ms | batch | dense ms | "
        "pvq_matmul ms | decode ms |\n|---|---|---|---|---|---|---|")
  dense = jax.jit(lambda x, w: x @ w.T)
  decode = jax.jit(pvq.pvq_dequantize)
  for rows, cols in SHAPES:
    keys = jax.random.split(jax.random.key(rows * cols), 3)
    w = jax.random.normal(keys[0], (rows, cols))
    x_cal = jax.random.normal(keys[1], (4 * cols, cols))
    hessian = x_cal.T @ x_cal
    plain_ms = _quantize_ms(w, None)
    hessian_ms = _quantize_ms(w, hessian)
    q = pvq.pvq_quantize(w)
    decode_ms = harness.median_ms(decode, [(q,)])
    for batch in BATCHES:
      x = jax.random.normal(keys[2], (batch, cols))
      dense_ms = harness.median_ms(dense, [(x, w)])
      pvq_ms = harness.median_ms(pvq.pvq_matmul, [(x, q)])
      print(f"| {rows} x {cols} | {plain_ms:.1f} | {hessian_ms:.1f} | "
            f"{batch} | {dense_ms:.3f} | {pvq_ms:.3f} | {decode_ms:.3f} |")
  return 0


if __name__ == "__main__":
  raise SystemExit(main())
