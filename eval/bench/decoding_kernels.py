"""Parallel-decoding kernels beside XLA and PyTorch, one run.

    PYTHONPATH=. python -m eval bench decoding [--smoke] [--json out.json]

Prefix attention with a query-to-query mask (tree verification: batch 8,
4,096 cached tokens, 64 new ones under random trees, 16 heads of dim 128)
and the vocabulary reduction (logits [4,096 x 128,000], top-8 and given
tokens), both bf16. First correctness on fresh random inputs (ours against
the f32 reference on the same bf16 inputs), then median timings of ours,
XLA-compiled jnp, the `jax.nn` op, PyTorch (when importable) and the floor:
the bytes that must be read once, at the copy bandwidth measured in the
same run. Both kernels are memory bound, so the table reports GB/s and the
fraction of that bandwidth; on GPU it also times other tilings of our
kernels, to tune their defaults. Needs only jax and numpy (torch optional),
so it runs from a source tree on a GPU host. `--smoke` uses tiny shapes and
interpret mode, for CPU.
"""

import dataclasses
import functools
import platform

import jax
from jax import numpy as jnp

from eval.bench import baselines
from eval.bench.harness import (
    Timing,
    bench_main,
    copy_ceiling,
    median_ms,
    normal,
    temp_bytes,
)
from ops.attention import (
    key_mask,
    prefix_attention,
    prefix_attention_reference,
)
from ops.decoding.tree import ancestor_mask
from ops.vocab import vocab_reduce, vocab_reduce_reference


@dataclasses.dataclass(frozen=True)
class Shapes:
  attention: tuple = (8, 4096, 64, 16, 16, 128)  # B, prefix, T, H, Hkv, D
  vocab: tuple = (4096, 128000, 8, 8)  # rows, V, k, given tokens per row
  runs: int = 20


SMOKE = Shapes(attention=(2, 60, 8, 4, 4, 32), vocab=(16, 1000, 8, 4),
               runs=2)


def _random_tree_masks(key, batch, num_new):
  """[B, T, T] ancestor masks of random trees (parents before children)."""
  uniform = jax.random.uniform(key, (batch, num_new))
  parent = jnp.floor(uniform * jnp.arange(num_new)).astype(jnp.int32)
  return ancestor_mask(parent.at[:, 0].set(-1))


def attention_inputs(seed, batch, prefix, num_new, heads, kv_heads, dim):
  """A full cache (S = prefix + T) and a random tree over the new tokens."""
  kq, kk, kv, kt = jax.random.split(jax.random.key(seed), 4)
  slots = prefix + num_new
  return (normal(kq, (batch, num_new, heads, dim)),
          normal(kk, (batch, slots, kv_heads, dim)),
          normal(kv, (batch, slots, kv_heads, dim)),
          jnp.full((batch,), prefix, jnp.int32),
          _random_tree_masks(kt, batch, num_new))


def check_attention(ours, q, k, v, prefix_len, mask) -> dict:
  """Ours vs the f32 reference on the same inputs."""
  got = ours(q, k, v, prefix_len, mask).astype(jnp.float32)
  want = prefix_attention_reference(
      q.astype(jnp.float32), k.astype(jnp.float32), v.astype(jnp.float32),
      prefix_len, mask)
  err = float(jnp.max(jnp.abs(got - want) / (1 + jnp.abs(want))))
  return {"max_rel_err": err, "ok": err < 2e-2}


def check_vocab(ours, logits, tokens, k) -> dict:
  """Ours vs the reference: ids and top logits exactly."""
  got = ours(logits, tokens)
  want = vocab_reduce_reference(logits, k=k, tokens=tokens)
  gaps = {name: float(jnp.max(jnp.abs(a - b)))
          for name, a, b in zip(want._fields, got, want)
          if name not in ("argmax", "top_ids", "top_logits")}
  ids_equal = bool(jnp.all(got.top_ids == want.top_ids))
  logits_equal = bool(jnp.all(got.top_logits == want.top_logits))
  return {"top_ids_equal": ids_equal, "top_logits_equal": logits_equal,
          "max_abs_gap": gaps,
          "ok": ids_equal and logits_equal and max(gaps.values()) < 1e-3}


def ops_attention(q, k, v, prefix_len, mask, *, impl, block_sizes=None):
  if block_sizes is None:
    return prefix_attention(q, k, v, prefix_len, mask, implementation=impl)
  from pallas_kernels import prefix_attention as kernels  # noqa: PLC0415

  return kernels.prefix_attention(q, k, v, prefix_len, mask,
                                  block_sizes=block_sizes)


def ops_vocab(logits, tokens, *, k, impl):
  return vocab_reduce(logits, k=k, tokens=tokens, implementation=impl)


def attention_cases(shapes: Shapes, impl: str, torch_ok: bool):
  """Yields (case, bytes to read, flops, {impl: (fn, arg_sets)}, check)."""
  batch, prefix, num_new, heads, kv_heads, dim = shapes.attention
  sets = [attention_inputs(s, *shapes.attention) for s in (0, 1)]
  slots = prefix + num_new
  # Baselines take the dense [B, T, S] mask people build today.
  dense = [(q, k, v, key_mask(p, m, slots)) for q, k, v, p, m in sets]
  ours = jax.jit(functools.partial(ops_attention, impl=impl))
  fns = {f"ours:{impl}": (ours, sets)}
  if impl == "pallas" and jax.default_backend() == "gpu":
    fns.update(_attention_tiles(shapes, sets))
  if heads == kv_heads:
    fns["xla:einsum+where+softmax"] = (baselines.xla_masked_attention, dense)
    fns["jax.nn:dot_product_attention"] = (baselines.jax_nn_attention, dense)
    if torch_ok:
      torch_sets = baselines.to_torch(dense)
      fns["torch:sdpa bool mask"] = (baselines.torch_sdpa, torch_sets)
      fns["torch:naive"] = (baselines.torch_naive_attention, torch_sets)
  cache_bytes = 2 * batch * slots * kv_heads * dim * 2
  flops = 4 * batch * heads * num_new * slots * dim
  yield (f"prefix attention B={batch} prefix={prefix} T={num_new} tree "
         f"H={heads}/{kv_heads} D={dim}", cache_bytes, flops, fns,
         functools.partial(check_attention, ours, *sets[0]))


def _attention_tiles(shapes: Shapes, sets):
  """Other GPU tilings of our kernel, to tune the defaults."""
  from pallas_kernels import prefix_attention as kernels  # noqa: PLC0415

  batch, prefix, num_new, heads, kv_heads, dim = shapes.attention
  default = kernels.BlockSizes.default_for(
      batch=batch, num_new=num_new, num_heads=heads, num_kv_heads=kv_heads,
      head_dim=dim, num_slots=prefix + num_new, itemsize=2, backend="gpu")
  fns = {}
  for splits in (1, 2, 4, 8):
    for block_keys in (32, 64, 128):
      tiles = dataclasses.replace(default, num_splits=splits,
                                  block_keys=block_keys)
      if tiles != default:
        fns[f"ours:pallas splits={splits} keys={block_keys}"] = (
            jax.jit(functools.partial(ops_attention, impl="pallas",
                                      block_sizes=tiles)), sets)
  return fns


def _vocab_tiles(vocab: int, k: int, logits_only):
  """The kernel alone (no gathers, no assembly) with several GPU tilings."""
  from pallas_kernels import vocab_reduce as kernels  # noqa: PLC0415

  default = kernels.BlockSizes.default_for(vocab=vocab, backend="gpu")
  fns = {}
  for block_vocab in (1024, 2048, 4096, 8192):
    for warps in (4, 8):
      tiles = dataclasses.replace(default, block_vocab=block_vocab,
                                  num_warps=warps)
      fns[f"ours:kernel vocab={block_vocab} warps={warps}"] = (
          jax.jit(functools.partial(kernels.vocab_stats, k=k,
                                    block_sizes=tiles)), logits_only)
  return fns


def vocab_cases(shapes: Shapes, impl: str, torch_ok: bool):
  rows, vocab, k, num_tokens = shapes.vocab
  sets = []
  for seed in (2, 3):
    kx, kt = jax.random.split(jax.random.key(seed))
    sets.append((normal(kx, (rows, vocab)),
                 jax.random.randint(kt, (rows, num_tokens), 0, vocab)))
  logits_only = [(x,) for x, _ in sets]
  ours = jax.jit(functools.partial(ops_vocab, k=k, impl=impl))
  fns = {
      f"ours:{impl} all stats": (ours, sets),
      "xla:lse+argmax+top_k f32": (functools.partial(
          baselines.xla_vocab_stats, k=k), logits_only),
      "xla:lse+argmax+approx_max_k f32": (functools.partial(
          baselines.xla_vocab_stats, k=k, approx=True), logits_only),
      "xla:reference all stats": (jax.jit(functools.partial(
          vocab_reduce_reference, k=k)), logits_only),
  }
  if impl == "pallas" and jax.default_backend() == "gpu":
    fns.update(_vocab_tiles(vocab, k, logits_only))
  if torch_ok:
    stats = functools.partial(baselines.torch_vocab_stats, k=k)
    fns["torch:lse+argmax+topk bf16"] = (stats,
                                         baselines.to_torch(logits_only))
    fns["torch:lse+argmax+topk f32"] = (
        stats, baselines.to_torch(logits_only, float32=True))
  yield (f"vocab reduce {rows}x{vocab} top-{k} + {num_tokens} tokens",
         rows * vocab * 2, 8 * rows * vocab, fns,
         functools.partial(check_vocab, ours, *sets[0], k))


def format_table(rows: list[Timing], read_bytes: dict, bandwidth: float,
                 baseline_names=("xla", "jax.nn", "torch")) -> str:
  """Rows grouped by case: ms, GB/s, % of the copy bandwidth, speedups."""
  head = "".join(f"{'vs ' + b:>10}" for b in baseline_names)
  lines = [f"{'case':<52} {'implementation':<34} {'ms':>9} {'GB/s':>8} "
           f"{'bw%':>6}{head} {'temp MB':>8}"]
  for case in dict.fromkeys(r.case for r in rows):
    group = [r for r in rows if r.case == case]
    first = {}
    for r in group:
      if r.ms:
        first.setdefault(r.impl.split(":")[0], r.ms)
    for r in group:
      ms = f"{r.ms:9.3f}" if r.ms else f"{'-':>9}"
      gbs = read_bytes[case] / (r.ms * 1e-3) if r.ms else None
      rate = f"{gbs / 1e9:8.1f}" if gbs else f"{'-':>8}"
      frac = f"{100 * gbs / bandwidth:5.1f}%" if gbs else f"{'-':>6}"
      speedups = "".join(
          f"{first[b] / r.ms:9.2f}x" if b in first and r.ms else f"{'-':>10}"
          for b in baseline_names)
      mem = (f"{r.temp_bytes / 2**20:8.1f}" if r.temp_bytes is not None
             else f"{'-':>8}")
      lines.append(f"{case:<52} {r.impl:<34} {ms} {rate} {frac}{speedups} "
                   f"{mem}" + (f"  {r.note}" if r.note else ""))
  return "\n".join(lines)


def run(shapes: Shapes, impl: str, only: str | None = None) -> dict:
  smoke = shapes is SMOKE
  torch_ok = baselines.torch_version() is not None and (
      smoke or baselines.torch_cuda_available())
  bandwidth = copy_ceiling(1 << 20 if smoke else 1 << 30)
  info = {"device": jax.devices()[0].device_kind, "jax": jax.__version__,
          "python": platform.python_version(), "implementation": impl,
          "copy_bytes_per_s": bandwidth, "torch": baselines.torch_version()}
  rows, checks, read_bytes = [], {}, {}
  groups = {"attention": attention_cases, "vocab": vocab_cases}
  for group, cases in groups.items():
    if only and only != group:
      continue
    for case, nbytes, flops, fns, check in cases(shapes, impl, torch_ok):
      read_bytes[case] = nbytes
      checks[case] = check()
      print(f"check {case}: {checks[case]}", flush=True)
      for name, (fn, arg_sets) in fns.items():
        try:
          ms = median_ms(fn, arg_sets, runs=shapes.runs)
          mem = None if smoke or name.startswith("torch") else temp_bytes(
              fn, *arg_sets[0])
          rows.append(Timing(case, name, ms, flops, mem))
        except Exception as e:  # report a baseline that cannot run
          rows.append(Timing(case, name, None, flops,
                             note=f"{type(e).__name__}: {str(e)[:80]}"))
        print(f"  {case} / {name}: {rows[-1].ms}", flush=True)
      rows.append(Timing(case, "floor", nbytes / bandwidth * 1e3, flops))
  print(format_table(rows, read_bytes, bandwidth))
  timings = [dict(dataclasses.asdict(r), tflops=r.tflops,
                  gbps=read_bytes[r.case] / (r.ms * 1e6) if r.ms else None)
             for r in rows]
  return {"info": info, "checks": checks, "timings": timings}


def main(argv=None) -> int:
  return bench_main(argv, prog="python -m eval bench decoding",
                    description=__doc__,
                    parts=("attention", "vocab"), run=run, shapes=Shapes(),
                    smoke_shapes=SMOKE)
