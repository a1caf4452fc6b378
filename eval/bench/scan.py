"""The selective scan's implementations side by side, forward and backward.

    python -m eval bench scan [--smoke] [--json out.json]

At B=8, L=1,024, Dm=256, N=16 (f32, delta already positive, with D, no
gate): `ops.selective_scan` "sequential" (`lax.scan`), "xla" in one chunk
(a plain `lax.associative_scan`) and in chunks of 128, a Python loop of a
jitted `selective_scan_step` (forward only), and mambapy's PyTorch `pscan`
(`MambaBlock.selective_scan`, when torch and mambapy are installed; its
backward by autograd). First each output against "sequential" (max
relative error), then median times. `--smoke` uses tiny shapes.
"""

import dataclasses
import platform

import jax
import numpy as np
from jax import numpy as jnp

from eval.bench.harness import Timing, bench_main, median_ms
from ops.ssm import selective_scan, selective_scan_step


@dataclasses.dataclass(frozen=True)
class Shapes:
  scan: tuple = (8, 1024, 256, 16)  # B, L, Dm, N
  chunk: int = 128
  runs: int = 5


SMOKE = Shapes(scan=(2, 24, 8, 4), chunk=8, runs=1)


def _inputs(b, length, width, n):
  keys = jax.random.split(jax.random.key(0), 6)
  return dict(
      u=jax.random.normal(keys[0], (b, length, width)),
      delta=jax.nn.softplus(jax.random.normal(keys[1], (b, length, width))
                            - 2.0),
      A=-jnp.exp(0.5 * jax.random.normal(keys[2], (width, n))),
      B=jax.random.normal(keys[3], (b, length, n)),
      C=jax.random.normal(keys[4], (b, length, n)),
      D=jax.random.normal(keys[5], (width,)))


def _ours(implementation, chunk):
  def forward(x):
    return selective_scan(**x, delta_softplus=False,
                          implementation=implementation, chunk=chunk)
  return jax.jit(forward)


def _step_loop(x):
  """A Python loop of jitted steps, one dispatch per time step."""
  step = jax.jit(lambda h, u, d, b, c: selective_scan_step(
      h, u, d, x["A"], b, c, x["D"], delta_softplus=False))
  b, length, width = x["u"].shape
  h = jnp.zeros((b, width, x["A"].shape[1]))
  ys = []
  for t in range(length):
    y, h = step(h, x["u"][:, t], x["delta"][:, t], x["B"][:, t],
                x["C"][:, t])
    ys.append(y)
  return jnp.stack(ys, 1)


def _peer():
  """mambapy's scan as a function of torch tensors, or None."""
  try:
    import torch
    from mambapy.mamba import MambaBlock
  except ImportError:
    return None, None
  def scan(x):  # `self` is unused by the method
    return MambaBlock.selective_scan(None, x["u"], x["delta"], x["A"],
                                     x["B"], x["C"], x["D"])
  return torch, scan


def _relative_error(got, want) -> float:
  got, want = np.asarray(got, np.float64), np.asarray(want, np.float64)
  return float(np.abs(got - want).max() / np.abs(want).max())


def run(shapes: Shapes, impl: str, only: str | None):
  del impl  # no kernel: every implementation runs as it is
  x = _inputs(*shapes.scan)
  case = "B={} L={} Dm={} N={}".format(*shapes.scan)
  weights = jax.random.normal(jax.random.key(1), x["u"].shape)
  ours = {"sequential": _ours("sequential", shapes.chunk),
          "associative (one chunk)": _ours("xla", shapes.scan[1]),
          f"associative (chunks of {shapes.chunk})": _ours("xla",
                                                           shapes.chunk)}
  want = ours["sequential"](x)
  checks, rows = {}, []
  for name, fn in ours.items():
    error = _relative_error(fn(x), want)
    checks[f"forward / {name}"] = {"ok": error < 1e-4, "error": error}
    if only in (None, "forward"):
      rows.append(Timing(case, f"forward / {name}",
                         median_ms(fn, [(x,)], runs=shapes.runs), 0.0))
    if only in (None, "backward"):
      grad = jax.jit(jax.grad(lambda x, fn=fn: jnp.sum(fn(x) * weights)))
      rows.append(Timing(case, f"forward+backward / {name}",
                         median_ms(grad, [(x,)], runs=shapes.runs), 0.0))
  error = _relative_error(_step_loop(x), want)
  checks["forward / step loop"] = {"ok": error < 1e-4, "error": error}
  if only in (None, "forward"):
    rows.append(Timing(case, "forward / Python loop of jitted steps",
                       median_ms(_step_loop, [(x,)], runs=shapes.runs), 0.0))
  torch, peer = _peer()
  if peer is not None:
    tx = {k: torch.tensor(np.asarray(v)) for k, v in x.items()}
    error = _relative_error(peer(tx).numpy(), want)
    checks["forward / mambapy pscan"] = {"ok": error < 1e-4, "error": error}
    if only in (None, "forward"):
      with torch.no_grad():
        rows.append(Timing(case, "forward / mambapy pscan (torch)",
                           _torch_ms(lambda: peer(tx), shapes.runs), 0.0))
    if only in (None, "backward"):
      tx["u"].requires_grad_(True)
      tw = torch.tensor(np.asarray(weights))
      rows.append(Timing(
          case, "forward+backward / mambapy pscan (torch)",
          _torch_ms(lambda: (peer(tx) * tw).sum().backward(), shapes.runs),
          0.0))
  print(f"{case} on {platform.processor() or platform.machine()}, "
        f"jax {jax.__version__} ({jax.default_backend()})")
  for name, c in checks.items():
    print(f"  check {name}: max relative error {c['error']:.1e}")
  for row in rows:
    print(f"  {row.impl:<48} {row.ms:9.1f} ms")
  return {"checks": checks,
          "timings": [dataclasses.asdict(r) for r in rows]}


def _torch_ms(fn, runs: int) -> float:
  import time
  fn()
  times = []
  for _ in range(runs):
    start = time.perf_counter()
    fn()
    times.append(1e3 * (time.perf_counter() - start))
  return float(np.median(times))


def main(argv=None) -> int:
  return bench_main(argv, prog="python -m eval bench scan",
                    description=__doc__, parts=("forward", "backward"),
                    run=run, shapes=Shapes(), smoke_shapes=SMOKE)
