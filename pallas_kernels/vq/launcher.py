"""Launcher for the nearest-codeword kernels: validation, padding, tiling.

`nearest_codes` pads rows, codes and the feature dim to the tiles of the
chosen backend (padding codes get bias -inf, padding features are zero),
launches `kernels.loop_kernel` (GPU) or `kernels.grid_kernel` (TPU), and
merges per-split top-k lists. A k above `MAX_K` (the longest list a kernel
carries in registers) runs as ceil(k / MAX_K) passes in a `lax.scan`, each
admitting only the codes ranked after the previous pass's last entry.
Backend modules (Triton, Mosaic TPU) are imported only when their compiler
parameters are built.
"""

import functools

import jax
from jax import lax
from jax import numpy as jnp
from jax.experimental import pallas as pl

from pallas_kernels import common
from pallas_kernels.vq import kernels
from pallas_kernels.vq.block_sizes import (
    BlockSizes,
    padded_dim,
    padded_slots,
)

# Codes one kernel pass keeps per row; a longer top-k takes several passes.
MAX_K = 16
_DTYPES = (jnp.float32, jnp.bfloat16)


def _validate(x, codebook, bias, k) -> None:
  if x.ndim != 3 or codebook.ndim != 3 or bias.ndim != 2:
    raise ValueError(
        "nearest_codes: expected x [N, G, d], codebook [G, K, d] and bias "
        f"[G, K], got {x.shape}, {codebook.shape} and {bias.shape}")
  n, g, d = x.shape
  if codebook.shape[0] != g or codebook.shape[2] != d:
    raise ValueError(f"nearest_codes: codebook must be [{g}, K, {d}] to "
                     f"match x {x.shape}, got {codebook.shape}")
  if bias.shape != codebook.shape[:2]:
    raise ValueError(f"nearest_codes: bias must be {codebook.shape[:2]}, "
                     f"got {bias.shape}")
  if x.dtype not in _DTYPES or codebook.dtype != x.dtype:
    raise ValueError("nearest_codes: x and codebook must both be float32 or "
                     f"both bfloat16, got {x.dtype} and {codebook.dtype}")
  if bias.dtype != jnp.float32:
    raise ValueError(f"nearest_codes: bias must be float32, got {bias.dtype}")
  if codebook.shape[1] == 0:
    raise ValueError("nearest_codes: the codebook is empty (K = 0 codes, "
                     f"shape {codebook.shape})")
  if isinstance(k, bool) or not isinstance(k, int) or not (
      1 <= k <= codebook.shape[1]):
    raise ValueError(f"nearest_codes: k must be an int in [1, "
                     f"{codebook.shape[1]}], got {k!r}")


def _compiler_params(backend: str, block_sizes: BlockSizes):
  return common.compiler_params(
      backend, block_sizes, ("parallel", "parallel", "parallel", "arbitrary"))


def _launch_gpu(x, codebook, bias, k, block_sizes, interpret, cost,
                after=None):
  """Runs the loop kernel; returns values, indices [S, G, Np, slots].

  `after`: optional (values, indices) [N, G], the previous pass's last
  entry per row (see `kernels`).
  """
  n, g, d = x.shape
  bn, bk, splits = (block_sizes.block_rows, block_sizes.block_codes,
                    block_sizes.num_splits)
  dp = padded_dim(d, "gpu")
  num_codes = common.round_up(codebook.shape[1], bk * splits)
  np_ = common.round_up(n, bn)
  split_codes = num_codes // splits
  slots = padded_slots(k)
  xp = common.pad_to(x, (np_, g, dp))
  cp = common.pad_to(codebook, (g, num_codes, dp))
  bp = common.pad_to(bias, (g, num_codes), -jnp.inf)
  out_spec = pl.BlockSpec((None, None, bn, slots),
                          lambda i, gi, s: (s, gi, i, 0))
  kernel = functools.partial(kernels.loop_kernel, k=k, block_codes=bk,
                             precision=common.dot_precision(x),
                             bounded=after is not None)
  in_specs = [
      pl.BlockSpec((bn, None, dp), lambda i, gi, s: (i, gi, 0)),
      pl.BlockSpec((None, split_codes, dp), lambda i, gi, s: (gi, s, 0)),
      pl.BlockSpec((None, 1, split_codes), lambda i, gi, s: (gi, 0, s)),
  ]
  args = [xp, cp, bp[:, None, :]]
  if after is not None:
    after_spec = pl.BlockSpec((bn, None, 1), lambda i, gi, s: (i, gi, 0))
    in_specs += [after_spec, after_spec]
    args += [common.pad_to(a[..., None], (np_, g, 1)) for a in after]
  return pl.pallas_call(
      kernel,
      out_shape=(jax.ShapeDtypeStruct((splits, g, np_, slots), jnp.float32),
                 jax.ShapeDtypeStruct((splits, g, np_, slots), jnp.int32)),
      grid=(np_ // bn, g, splits),
      in_specs=in_specs,
      out_specs=(out_spec, out_spec),
      compiler_params=_compiler_params("gpu", block_sizes),
      interpret=interpret,
      cost_estimate=cost,
      name="vq_nearest_codes_loop",
  )(*args)


def _launch_tpu(x, codebook, bias, k, block_sizes, interpret, cost,
                after=None):
  """Runs the grid kernel; returns values, indices [S, G, Np, slots].

  `after`: as for `_launch_gpu`.
  """
  n, g, d = x.shape
  bn, bk, splits = (block_sizes.block_rows, block_sizes.block_codes,
                    block_sizes.num_splits)
  dp = padded_dim(d, "tpu")
  num_codes = common.round_up(codebook.shape[1], bk * splits)
  np_ = common.round_up(n, bn)
  tiles = num_codes // (bk * splits)
  slots = padded_slots(k)
  # Rows must be the block's second-minor dim: [G, Np, dp] (a copy of x
  # unless G == 1).
  xt = common.pad_to(jnp.swapaxes(x, 0, 1), (g, np_, dp))
  cp = common.pad_to(codebook, (g, num_codes, dp))
  bp = common.pad_to(bias, (g, num_codes), -jnp.inf)
  out_spec = pl.BlockSpec((None, None, slots, bn),
                          lambda gi, s, i, t: (s, gi, 0, i))
  kernel = functools.partial(kernels.grid_kernel, k=k,
                             precision=common.dot_precision(x),
                             bounded=after is not None)
  in_specs = [
      pl.BlockSpec((None, bn, dp), lambda gi, s, i, t: (gi, i, 0)),
      pl.BlockSpec((None, bk, dp),
                   lambda gi, s, i, t: (gi, s * tiles + t, 0)),
      pl.BlockSpec((None, bk, 1),
                   lambda gi, s, i, t: (gi, s * tiles + t, 0)),
  ]
  args = [xt, cp, bp[:, :, None]]
  if after is not None:
    # Rows along lanes, as in the output blocks: [G, 1, Np].
    after_spec = pl.BlockSpec((None, 1, bn), lambda gi, s, i, t: (gi, 0, i))
    in_specs += [after_spec, after_spec]
    args += [common.pad_to(a.T[:, None, :], (g, 1, np_)) for a in after]
  values, indices = pl.pallas_call(
      kernel,
      out_shape=(jax.ShapeDtypeStruct((splits, g, slots, np_), jnp.float32),
                 jax.ShapeDtypeStruct((splits, g, slots, np_), jnp.int32)),
      grid=(g, splits, np_ // bn, tiles),
      in_specs=in_specs,
      out_specs=(out_spec, out_spec),
      compiler_params=_compiler_params("tpu", block_sizes),
      interpret=interpret,
      cost_estimate=cost,
      name="vq_nearest_codes_grid",
  )(*args)
  return jnp.swapaxes(values, 2, 3), jnp.swapaxes(indices, 2, 3)


def _nan_rows_of_column_path(values, indices, bias):
  """Gives rows without a real score their lowest enabled code (GPU, k = 1).

  The loop kernel's k = 1 path never takes a NaN score (nor -inf of an
  enabled code), so such a row comes back -inf although it has enabled
  codes. They all rank NAN_RANK: the lowest-indexed one wins.
  """
  enabled = bias != -jnp.inf  # [G, K]
  first = jnp.argmax(enabled, axis=1).astype(jnp.int32)[None, :, None]
  fix = jnp.isneginf(values) & jnp.any(enabled, axis=1)[None, :, None]
  return (jnp.where(fix, kernels.NAN_RANK, values),
          jnp.where(fix, first, indices))


def _merge_splits(values, indices, n: int, k: int):
  """[S, G, Np, slots] per-split lists -> [n, G, k], best first."""
  splits, g, _, slots = values.shape
  values = jnp.transpose(values[:, :, :n], (2, 1, 0, 3))
  indices = jnp.transpose(indices[:, :, :n], (2, 1, 0, 3))
  values = values.reshape(n, g, splits * slots)
  indices = indices.reshape(n, g, splits * slots)
  if splits == 1:
    return values[..., :k], indices[..., :k]
  # Candidates are ordered by split, then rank: lax.top_k keeps the lower
  # position among equal values, i.e. the lower code index.
  values, position = lax.top_k(values, k)
  return values, jnp.take_along_axis(indices, position, axis=-1)


@functools.partial(
    jax.jit, static_argnames=("k", "interpret", "block_sizes", "backend"))
def _nearest_codes(x, codebook, bias, *, k, interpret, block_sizes, backend):
  n, g, d = x.shape
  cost = pl.CostEstimate(
      flops=2 * n * g * codebook.shape[1] * d, transcendentals=0,
      bytes_accessed=x.size * x.dtype.itemsize
      + codebook.size * codebook.dtype.itemsize + bias.size * 4
      + n * g * k * 8)
  launch = _launch_gpu if backend == "gpu" else _launch_tpu
  if k > MAX_K:
    return _passes(functools.partial(
        launch, x, codebook, bias, MAX_K, block_sizes, interpret, cost),
        n, g, k)
  values, indices = launch(x, codebook, bias, k, block_sizes, interpret, cost)
  values, indices = _merge_splits(values, indices, n, k)
  if backend == "gpu" and k == 1:
    values, indices = _nan_rows_of_column_path(values, indices, bias)
  return values, indices


def _passes(launch_pass, n: int, g: int, k: int):
  """Top-k as ceil(k / MAX_K) kernel passes of MAX_K codes each.

  Pass p keeps the best MAX_K codes ranked after pass p - 1's last entry,
  so the passes, concatenated, are the top-k list in order. A pass that
  runs out of codes leaves -inf slots, and so do all after it.

  Args:
    launch_pass: `after` -> per-split values, indices [S, G, Np, slots].
    n, g: rows and groups; k: codes per row.

  Returns:
    (values [n, G, k] float32, indices [n, G, k] int32).
  """
  def one_pass(after, _):
    values, indices = _merge_splits(*launch_pass(after=after), n, MAX_K)
    return (values[..., -1], indices[..., -1]), (values, indices)

  # (+inf, -1) admits every code.
  first = (jnp.full((n, g), jnp.inf, jnp.float32),
           jnp.full((n, g), -1, jnp.int32))
  _, (values, indices) = lax.scan(one_pass, first, length=-(-k // MAX_K))
  # [passes, n, G, MAX_K] -> [n, G, passes * MAX_K], best first.
  values = jnp.moveaxis(values, 0, 2).reshape(n, g, -1)
  indices = jnp.moveaxis(indices, 0, 2).reshape(n, g, -1)
  return values[..., :k], indices[..., :k]


def nearest_codes(
    x: jax.Array,
    codebook: jax.Array,
    bias: jax.Array,
    *,
    k: int,
    interpret: bool = False,
    block_sizes: BlockSizes | None = None,
    backend: str | None = None,
) -> tuple[jax.Array, jax.Array]:
  """Top-k codes of each row by `x . c + bias`, without an N x K matrix.

  Products are in the input dtype with f32 accumulation. Ties go to the
  lowest code index. A NaN score (or -inf for an enabled code) ranks, and
  comes back, as `kernels.NAN_RANK`, the lowest finite float32, so indices
  stay in [0, K). Slots whose value is -inf (fewer than k enabled codes)
  carry an arbitrary index. A feature dim of 0 is padded (every score is
  its bias).

  Args:
    x: [N, G, d] float32 or bfloat16.
    codebook: [G, K, d], same dtype as x.
    bias: [G, K] float32, added to each score; -inf disables a code.
    k: codes per row, 1 <= k <= K (above MAX_K, in passes).
    interpret: run the kernel in Pallas interpret mode (any platform).
    block_sizes: tiling; `BlockSizes.default_for(...)` when None.
    backend: "gpu" or "tpu" builds that backend's kernel and compiler
      parameters regardless of the default device (for export and interpret
      tests); "cpu" or None with interpret=True runs the GPU kernel body.
      Defaults to `jax.default_backend()`.

  Returns:
    (values [N, G, k] float32, indices [N, G, k] int32), best first.

  Raises:
    ValueError: malformed arguments.
    NotImplementedError: a feature dim too large for one tile,
      float32 inputs on GPU (exact f32 products have no fast Triton path),
      or no compiled kernel for the platform (callers fall back to XLA).
  """
  _validate(x, codebook, bias, k)
  kind = common.kernel_backend("nearest_codes", backend, interpret)
  if kind == "gpu" and not interpret and x.dtype == jnp.float32:
    # Exact f32 products run as a non-tensor-core dot in Triton, orders of
    # magnitude slower than XLA's matmul.
    raise NotImplementedError(
        "nearest_codes: float32 inputs are not supported by the GPU kernel; "
        "use bfloat16 inputs or the XLA implementation")
  n, g, d = x.shape
  if block_sizes is None:
    block_sizes = BlockSizes.default_for(
        num_rows=n, num_groups=g, num_codes=codebook.shape[1], dim=d,
        dtype=x.dtype, k=min(k, MAX_K), backend=kind)
  else:
    block_sizes.validate(kind)
  if n == 0 or g == 0:
    return (jnp.zeros((n, g, k), jnp.float32), jnp.zeros((n, g, k), jnp.int32))
  return _nearest_codes(x, codebook, bias, k=k, interpret=interpret,
                        block_sizes=block_sizes, backend=kind)
