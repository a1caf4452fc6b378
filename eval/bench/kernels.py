"""MaxSim and nearest-codeword kernels beside XLA and PyTorch, one run.

    PYTHONPATH=. python -m eval bench kernels [--smoke] [--json out.json]

First correctness on fresh random inputs (ours against an f32 reference on
the same bf16 inputs), then median timings of ours, XLA-compiled jnp
(chunked, as people write it today), PyTorch (when importable with CUDA) and
the floor (FLOPs at the bf16 matmul rate measured in the same run). Needs
only jax and numpy (torch optional), so it runs from a source tree on a GPU
host. `--smoke` uses tiny shapes and interpret mode, for CPU.
"""

import dataclasses
import functools
import platform

import jax
from jax import numpy as jnp

import ops
from eval.bench import baselines
from eval.bench.harness import (
  Timing,
  bench_main,
  copy_ceiling,
  format_table,
  matmul_ceiling,
  median_ms,
  normal,
  temp_bytes,
)


@dataclasses.dataclass(frozen=True)
class Shapes:
  maxsim_scan: tuple = (32, 32, 65536, 256, 128)  # B, Lq, N, Ld, D
  rerank: tuple = (1, 32, 1000, 256, 128)
  in_batch: tuple = (256, 32, 256, 256, 128)
  vq: tuple = (1 << 20, 16384, 256)  # N, K, d
  vq_side: tuple = (1 << 18, 16384, 256)  # top-k and inner product
  vq_grouped: tuple = (1 << 18, 64, 256, 32)  # N, G, K, d
  vq_huge_k: tuple = (1 << 16, 262144, 256)
  runs: int = 7


SMOKE = Shapes(maxsim_scan=(4, 8, 256, 16, 32), rerank=(1, 8, 50, 16, 32),
               in_batch=(16, 8, 16, 16, 32), vq=(512, 256, 32),
               vq_side=(256, 256, 32), vq_grouped=(256, 4, 64, 16),
               vq_huge_k=(64, 2048, 32), runs=2)


def _maxsim_inputs(seed, b, lq, n, ld, dim, ragged=False):
  kq, kd, kl = jax.random.split(jax.random.key(seed), 3)
  q, d = normal(kq, (b, lq, dim)), normal(kd, (n, ld, dim))
  d_mask = None
  if ragged:
    lengths = jax.random.randint(kl, (n,), min(32, ld), ld + 1)
    d_mask = jnp.arange(ld)[None] < lengths[:, None]
  return q, d, d_mask


def check_maxsim(impl, q, d, d_mask, docs=512) -> dict:
  """Ours vs the f32 reference on the first `docs` documents."""
  d, d_mask = d[:docs], None if d_mask is None else d_mask[:docs]
  got = ops.maxsim(q, d, d_mask=d_mask, implementation=impl)
  want = ops.maxsim_reference(q.astype(jnp.float32), d.astype(jnp.float32),
                              d_mask=d_mask)
  err = float(jnp.max(jnp.abs(got - want) / (1 + jnp.abs(want))))
  return {"max_rel_err": err, "ok": err < 2e-2}


def check_vq(impl, x, codebook, k=1, metric="l2", rows=4096) -> dict:
  """Index agreement with the reference on `rows` vectors; a disagreement
  counts as wrong unless the two picks' reference scores nearly tie."""
  x = x[:rows]
  idx, _ = ops.vq_nearest(x, codebook, k=k, metric=metric,
                          implementation=impl)
  ref_idx, ref_scores = ops.vq_nearest_reference(x, codebook, k=k,
                                                 metric=metric)
  agree = float(jnp.mean(idx == ref_idx))
  # Re-score our picks with the reference's formula and compare.
  x32, c32 = x.astype(jnp.float32), codebook.astype(jnp.float32)
  if codebook.ndim == 2:
    picked = c32[jnp.maximum(idx, 0)]  # [rows, k, d]
    ours = (jnp.sum((x32[:, None] - picked) ** 2, -1) if metric == "l2"
            else jnp.einsum("nd,nkd->nk", x32, picked))
  else:
    group = jnp.arange(codebook.shape[0])[None, :, None]
    picked = c32[group, jnp.maximum(idx, 0)]  # [rows, G, k, d]
    ours = jnp.sum((x32[..., None, :] - picked) ** 2, -1)
  gap = float(jnp.max(jnp.abs(ours - ref_scores) / (1 + jnp.abs(ref_scores))))
  return {"index_agreement": agree, "max_rel_score_gap": gap,
          "ok": gap < 2e-2}


def maxsim_cases(shapes: Shapes, impl: str, torch_ok: bool):
  """Yields (case, flops, {impl: (fn, arg_sets)}, check)."""
  b, lq, n, ld, dim = shapes.maxsim_scan
  for name, ragged in (("maxsim scan", False), ("maxsim ragged docs", True)):
    sets = [_maxsim_inputs(s, b, lq, n, ld, dim, ragged) for s in (0, 1)]
    ours = jax.jit(lambda q, d, m: ops.maxsim(q, d, d_mask=m,
                                              implementation=impl))
    fns = {f"ours:{impl}": (ours, sets),
           "xla:chunked 2048 docs": (jax.jit(baselines.xla_maxsim), sets)}
    if torch_ok:
      fns["torch:chunked einsum"] = (baselines.torch_maxsim,
                                     baselines.to_torch(sets))
    yield (f"{name} {b}x{lq} vs {n}x{ld}x{dim}", 2 * b * lq * n * ld * dim,
           fns, functools.partial(check_maxsim, impl, *sets[0]))

  b, lq, n, ld, dim = shapes.rerank
  sets = [_maxsim_inputs(s, b, lq, n, ld, dim) for s in (2, 3)]
  ours = jax.jit(lambda q, d, m: ops.maxsim(q, d, implementation=impl))
  xla = jax.jit(lambda q, d, m: ops.maxsim_reference(q, d))
  yield (f"maxsim rerank {b}x{lq} vs {n}x{ld}", 2 * b * lq * n * ld * dim,
         {f"ours:{impl}": (ours, sets), "xla:einsum": (xla, sets)},
         functools.partial(check_maxsim, impl, *sets[0]))

  b, lq, n, ld, dim = shapes.in_batch
  sets = [_maxsim_inputs(s, b, lq, n, ld, dim)[:2] for s in (4, 5)]

  def train_grad(fn):
    def loss(q, d):
      scores = fn(q, d)  # [B, N]; in-batch softmax over documents
      return -jnp.mean(jnp.diag(jax.nn.log_softmax(scores, axis=-1)))
    return jax.jit(jax.grad(loss, argnums=(0, 1)))

  yield (f"maxsim in-batch fwd+bwd {b}x{n}", 3 * 2 * b * lq * n * ld * dim,
         {f"ours:{impl}": (train_grad(functools.partial(
             ops.maxsim, implementation=impl)), sets),
          "xla:autodiff": (train_grad(ops.maxsim_reference), sets)},
         None)


def vq_cases(shapes: Shapes, impl: str, torch_ok: bool):
  n, k_codes, dim = shapes.vq
  sets = [(normal(jax.random.key(s), (n, dim)),
           normal(jax.random.key(s + 10), (k_codes, dim))) for s in (0, 1)]
  ours = jax.jit(lambda x, c: ops.vq_nearest(x, c, implementation=impl)[0])
  fns = {f"ours:{impl}": (ours, sets),
         "xla:chunked 65536 rows": (jax.jit(baselines.xla_nearest), sets)}
  if torch_ok:
    fns["torch:chunked bf16 matmul"] = (baselines.torch_nearest,
                                        baselines.to_torch(sets))
    fns["torch:chunked tf32 matmul"] = (
        functools.partial(baselines.torch_nearest, tf32=True),
        baselines.to_torch(sets, float32=True))
  yield (f"nearest code {n}x{k_codes}x{dim}", 2 * n * k_codes * dim, fns,
         functools.partial(check_vq, impl, *sets[0]))

  n, k_codes, dim = shapes.vq_side
  sets = [(normal(jax.random.key(s), (n, dim)),
           normal(jax.random.key(s + 10), (k_codes, dim))) for s in (2, 3)]
  for label, k, metric in (("top-8", 8, "l2"), ("inner product", 1, "ip")):
    ours = jax.jit(lambda x, c, k=k, m=metric: ops.vq_nearest(
        x, c, k=k, metric=m, implementation=impl)[0])
    xla = jax.jit(functools.partial(baselines.xla_nearest, k=k, metric=metric))
    yield (f"nearest code {label} {n}x{k_codes}x{dim}",
           2 * n * k_codes * dim,
           {f"ours:{impl}": (ours, sets), "xla:chunked 65536 rows":
            (xla, sets)},
           functools.partial(check_vq, impl, *sets[0], k=k, metric=metric))

  n, groups, k_codes, dim = shapes.vq_grouped
  sets = [(normal(jax.random.key(s), (n, groups, dim)),
           normal(jax.random.key(s + 10), (groups, k_codes, dim)))
          for s in (4, 5)]
  ours = jax.jit(lambda x, c: ops.vq_nearest(x, c, implementation=impl)[0])
  yield (f"nearest code {groups} groups {n}x{k_codes}x{dim}",
         2 * n * groups * k_codes * dim,
         {f"ours:{impl}": (ours, sets),
          "xla:chunked 65536 rows": (jax.jit(baselines.xla_nearest), sets)},
         functools.partial(check_vq, impl, *sets[0]))

  n, k_codes, dim = shapes.vq_huge_k
  sets = [(normal(jax.random.key(s), (n, dim)),
           normal(jax.random.key(s + 10), (k_codes, dim))) for s in (6, 7)]
  ours = jax.jit(lambda x, c: ops.vq_nearest(x, c, implementation=impl)[0])
  yield (f"nearest code K={k_codes} {n}x{dim}", 2 * n * k_codes * dim,
         {f"ours:{impl}": (ours, sets),
          "xla:chunked 4096 rows": (jax.jit(functools.partial(
              baselines.xla_nearest, chunk=4096)), sets)},
         functools.partial(check_vq, impl, *sets[0], rows=1024))


def run(shapes: Shapes, impl: str, only: str | None = None) -> dict:
  torch_ok = baselines.torch_cuda_available()
  flop_ceiling = matmul_ceiling(256 if shapes is SMOKE else 8192)
  info = {"device": jax.devices()[0].device_kind, "jax": jax.__version__,
          "python": platform.python_version(), "implementation": impl,
          "bf16_matmul_flops": flop_ceiling,
          "copy_bytes_per_s": copy_ceiling(1 << 20 if shapes is SMOKE
                                           else 1 << 30),
          "torch": baselines.torch_version()}
  rows, checks = [], {}
  groups = {"maxsim": maxsim_cases, "vq": vq_cases}
  for group, cases in groups.items():
    if only and only != group:
      continue
    for case, flops, fns, check in cases(shapes, impl, torch_ok):
      if check is not None:
        checks[case] = check()
        print(f"check {case}: {checks[case]}", flush=True)
      for name, (fn, arg_sets) in fns.items():
        try:
          ms = median_ms(fn, arg_sets, runs=shapes.runs)
          mem = temp_bytes(fn, *arg_sets[0]) if not name.startswith(
              "torch") else None
          rows.append(Timing(case, name, ms, flops, mem))
        except Exception as e:  # report a baseline that cannot run (OOM)
          rows.append(Timing(case, name, None, flops,
                             note=f"{type(e).__name__}: {str(e)[:80]}"))
        print(f"  {case} / {name}: {rows[-1].ms}", flush=True)
      rows.append(Timing(case, "floor", flops / flop_ceiling * 1e3, flops))
  print(format_table(rows, flop_ceiling))
  return {"info": info, "checks": checks,
          "timings": [dict(dataclasses.asdict(r), tflops=r.tflops)
                      for r in rows]}


def main(argv=None) -> int:
  return bench_main(argv, prog="python -m eval bench kernels",
                    description=__doc__,
                    parts=("maxsim", "vq"), run=run, shapes=Shapes(),
                    smoke_shapes=SMOKE)
