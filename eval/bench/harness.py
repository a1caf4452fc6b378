"""Timing, ceilings and memory for kernel benchmarks (jax + numpy only).

Times are medians over runs after warm-up, each run blocking on its result,
with the inputs rotated between buffers so no run is flattered by a cache
that the previous run warmed. Peak intermediate memory is what XLA reserves
for temporaries in the compiled program, so a kernel that materialises a
big intermediate shows it.
"""

import argparse
import dataclasses
import json
import statistics
import time
from collections.abc import Callable, Sequence

import jax
from jax import numpy as jnp


@dataclasses.dataclass
class Timing:
  """One implementation on one case."""

  case: str
  impl: str
  ms: float | None
  flops: float
  temp_bytes: int | None = None
  note: str = ""

  @property
  def tflops(self) -> float | None:
    return None if not self.ms else self.flops / (self.ms * 1e-3) / 1e12


def median_ms(fn: Callable, arg_sets: Sequence[tuple], *, warmup: int = 2,
              runs: int = 7) -> float:
  """Median wall time of fn(*args) in ms, cycling through arg_sets."""
  for i in range(warmup):
    jax.block_until_ready(fn(*arg_sets[i % len(arg_sets)]))
  times = []
  for i in range(runs):
    args = arg_sets[i % len(arg_sets)]
    start = time.perf_counter()
    jax.block_until_ready(fn(*args))
    times.append(1e3 * (time.perf_counter() - start))
  return statistics.median(times)


def interleaved_median_ms(steppers: dict[str, Callable], batches,
                          warmup: int) -> dict[str, float]:
  """Median ms per call of each `steppers[name](batch)` over `batches`
  after `warmup` batches, the steppers interleaved so that machine load
  hits them alike (training steps whose state lives in the stepper)."""
  times = {name: [] for name in steppers}
  for i, batch in enumerate(batches):
    for name, one in steppers.items():
      start = time.perf_counter()
      one(batch)
      if i >= warmup:
        times[name].append(1e3 * (time.perf_counter() - start))
  return {name: statistics.median(t) for name, t in times.items()}


def temp_bytes(fn: Callable, *args) -> int | None:
  """Bytes of temporaries in fn's compiled program (None if unknown)."""
  try:
    analysis = jax.jit(fn).lower(*args).compile().memory_analysis()
    return int(analysis.temp_size_in_bytes)
  except Exception:  # not every backend reports an analysis
    return None


def matmul_ceiling(n: int = 8192, dtype=jnp.bfloat16) -> float:
  """Measured dense matmul rate in FLOP/s at n x n x n."""
  keys = jax.random.split(jax.random.key(0), 4)
  mats = [jax.random.normal(k, (n, n), dtype) for k in keys]
  f = jax.jit(lambda a, b: jnp.dot(a, b, preferred_element_type=jnp.float32))
  ms = median_ms(f, [(mats[0], mats[1]), (mats[2], mats[3])], runs=10)
  return 2 * n**3 / (ms * 1e-3)


def copy_ceiling(nbytes: int = 1 << 30) -> float:
  """Measured device copy bandwidth (bytes read + written per second)."""
  x = jnp.ones((nbytes // 4,), jnp.float32)
  y = jnp.ones((nbytes // 4,), jnp.float32)
  f = jax.jit(lambda a: a + 1.0)
  ms = median_ms(f, [(x,), (y,)], runs=10)
  return 2 * nbytes / (ms * 1e-3)


def format_table(rows: list[Timing], flop_ceiling: float) -> str:
  """Rows grouped by case with speedups over each baseline of the case."""
  lines = [f"{'case':<44} {'implementation':<28} {'ms':>9} {'TFLOP/s':>8} "
           f"{'ceil%':>6} {'vs xla':>7} {'vs torch':>8} {'temp MB':>8}"]
  by_case: dict[str, list[Timing]] = {}
  for r in rows:
    by_case.setdefault(r.case, []).append(r)
  for case, group in by_case.items():
    ref = {r.impl.split(":")[0]: r.ms for r in group if r.ms}
    for r in group:
      def speedup(base, r=r, ref=ref):
        b = ref.get(base)
        return f"{b / r.ms:6.1f}x" if b and r.ms else "     -"
      ms = f"{r.ms:9.3f}" if r.ms else f"{'-':>9}"
      tf = f"{r.tflops:8.1f}" if r.tflops else f"{'-':>8}"
      frac = (f"{100 * r.tflops * 1e12 / flop_ceiling:5.1f}%"
              if r.tflops else f"{'-':>6}")
      mem = (f"{r.temp_bytes / 2**20:8.1f}" if r.temp_bytes is not None
             else f"{'-':>8}")
      lines.append(f"{case:<44} {r.impl:<28} {ms} {tf} {frac} "
                   f"{speedup('xla'):>7} {speedup('torch'):>8} {mem}"
                   + (f"  {r.note}" if r.note else ""))
  return "\n".join(lines)


def normal(key, shape, dtype=jnp.bfloat16) -> jax.Array:
  """Standard-normal inputs drawn in f32, then cast to `dtype`."""
  return jax.random.normal(key, shape, jnp.float32).astype(dtype)


def bench_main(argv, *, prog: str, description: str, parts: Sequence[str],
               run: Callable, shapes, smoke_shapes) -> int:
  """The command line every kernel benchmark shares.

  `run(shapes, impl, only)` returns {"checks": {case: {"ok": ...}}, ...};
  --smoke runs `smoke_shapes` in interpret mode, --only one of `parts`,
  --json writes the results. Exits 1 when a correctness check failed.
  """
  p = argparse.ArgumentParser(prog=prog, description=description,
                              formatter_class=argparse.RawTextHelpFormatter)
  p.add_argument("--smoke", action="store_true",
                 help="tiny shapes, interpret mode (CPU)")
  p.add_argument("--only", choices=tuple(parts), default=None)
  p.add_argument("--json", default=None, help="write the results here")
  args = p.parse_args(argv)
  results = run(smoke_shapes if args.smoke else shapes,
                "interpret" if args.smoke else "pallas", args.only)
  if args.json:
    with open(args.json, "w") as f:
      json.dump(results, f, indent=2)
  failed = [case for case, c in results["checks"].items() if not c["ok"]]
  if failed:
    print(f"CORRECTNESS FAILED: {failed}")
  return 1 if failed else 0
