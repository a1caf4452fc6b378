"""Launcher for the vocabulary-reduction kernels: padding, tiling, params.

`vocab_stats` takes logits [N, V] and returns, per row, the log-normaliser,
the entropy and the top-k logits with their token ids. Large logits are
passed to the kernel untouched; rows are padded to whole row blocks only
on TPU, and the vocabulary only when it is smaller than one GPU tile.
"""

import functools

import jax
from jax import numpy as jnp
from jax.experimental import pallas as pl

from pallas_kernels import common
from pallas_kernels.vocab_reduce import kernels
from pallas_kernels.vocab_reduce.block_sizes import BlockSizes

MAX_K = 32
_DTYPES = (jnp.float32, jnp.bfloat16)


def compiler_params(backend: str, block_sizes: BlockSizes):
  """Explicit compiler parameters for the "gpu" or "tpu" kernel."""
  return common.compiler_params(backend, block_sizes,
                                ("parallel", "arbitrary"))


def _launch_gpu(logits, k, block_sizes, interpret, out_shape, cost):
  rows = block_sizes.block_rows
  num_rows, vocab = logits.shape
  row_spec = lambda width: pl.BlockSpec((rows, width), lambda i: (i, 0))
  kernel = functools.partial(kernels.loop_kernel, k=k,
                             block_vocab=block_sizes.block_vocab)
  return pl.pallas_call(
      kernel, out_shape=out_shape, grid=(num_rows // rows,),
      in_specs=[row_spec(vocab)],
      out_specs=tuple(row_spec(o.shape[1]) for o in out_shape),
      compiler_params=compiler_params("gpu", block_sizes),
      interpret=interpret, cost_estimate=cost, name="vocab_reduce_loop",
  )(logits)


def _launch_tpu(logits, k, block_sizes, interpret, out_shape, cost):
  from jax.experimental.pallas import tpu as pltpu  # noqa: PLC0415

  rows = block_sizes.block_rows
  num_rows, vocab = logits.shape
  block_vocab = min(block_sizes.block_vocab, vocab)
  row_spec = lambda width: pl.BlockSpec((rows, width), lambda i, t: (i, 0))
  kernel = functools.partial(kernels.grid_kernel, k=k, vocab=vocab)
  return pl.pallas_call(
      kernel, out_shape=out_shape,
      grid=(num_rows // rows, pl.cdiv(vocab, block_vocab)),
      in_specs=[pl.BlockSpec((rows, block_vocab), lambda i, t: (i, t))],
      out_specs=tuple(row_spec(o.shape[1]) for o in out_shape),
      scratch_shapes=[pltpu.VMEM((rows, 1), jnp.float32)] * 3,
      compiler_params=compiler_params("tpu", block_sizes),
      interpret=interpret, cost_estimate=cost, name="vocab_reduce_grid",
  )(logits)


@functools.partial(
    jax.jit, static_argnames=("k", "block_sizes", "backend", "interpret"))
def _vocab_stats(logits, *, k, block_sizes, backend, interpret):
  num_rows, vocab = logits.shape
  rows = block_sizes.block_rows
  padded_rows = common.round_up(num_rows, rows)
  padded_vocab = vocab
  if backend == "gpu":  # the kernel's tiles must fit in a row
    padded_vocab = max(vocab, block_sizes.block_vocab)
  # Padding tokens are -inf: they add nothing to the sums and rank after
  # every real token.
  logits = common.pad_to(logits, (padded_rows, padded_vocab), -jnp.inf)
  slots = common.next_pow2(k)
  out_shape = (jax.ShapeDtypeStruct((padded_rows, 1), jnp.float32),
               jax.ShapeDtypeStruct((padded_rows, 1), jnp.float32),
               jax.ShapeDtypeStruct((padded_rows, slots), jnp.float32),
               jax.ShapeDtypeStruct((padded_rows, slots), jnp.int32))
  cost = pl.CostEstimate(
      flops=8 * logits.size, transcendentals=logits.size,
      bytes_accessed=logits.size * logits.dtype.itemsize
      + padded_rows * (2 + 2 * slots) * 4)
  launch = _launch_gpu if backend == "gpu" else _launch_tpu
  lse, entropy, values, ids = launch(logits, k, block_sizes, interpret,
                                     out_shape, cost)
  values = values[:num_rows, :k]
  values = jnp.where(values == kernels.LOWEST, -jnp.inf, values)
  return lse[:num_rows, 0], entropy[:num_rows, 0], values, ids[:num_rows, :k]


def vocab_stats(
    logits: jax.Array,
    *,
    k: int,
    block_sizes: BlockSizes | None = None,
    backend: str | None = None,
    interpret: bool = False,
) -> tuple[jax.Array, jax.Array, jax.Array, jax.Array]:
  """Log-normaliser, entropy and top-k of each row in one pass.

  Ties go to the lowest token id; -inf logits rank after every finite one
  (lowest id first), as in `lax.top_k`.

  Args:
    logits: [N, V] float32 or bfloat16.
    k: length of the top-k list, 1 <= k <= min(V, MAX_K).
    block_sizes: tiling; `BlockSizes.default_for(...)` when None.
    backend: "gpu" or "tpu" builds that backend's kernel and compiler
      parameters regardless of the default device (for export and interpret
      tests); "cpu" or None with interpret=True runs the GPU kernel body.
      Defaults to `jax.default_backend()`.
    interpret: run the kernel in Pallas interpret mode (any platform).

  Returns:
    (logsumexp [N] f32, entropy [N] f32 in nats, top logits [N, k] f32 best
    first, their ids [N, k] int32).

  Raises:
    ValueError: malformed arguments.
    NotImplementedError: k > MAX_K, another dtype, or no compiled kernel for
      the platform (callers fall back to XLA).
  """
  if logits.ndim != 2 or logits.shape[1] == 0:
    raise ValueError(f"vocab_stats: logits must be [N, V] with V > 0, got "
                     f"shape {logits.shape}")
  vocab = logits.shape[1]
  if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= vocab:
    raise ValueError(f"vocab_stats: k must be an int in [1, V={vocab}], got "
                     f"{k!r}")
  if k > MAX_K:
    raise NotImplementedError(f"vocab_stats: k={k} > {MAX_K} is not "
                              "supported by the kernel")
  if logits.dtype not in _DTYPES:
    raise NotImplementedError("vocab_stats: the kernel takes float32 or "
                              f"bfloat16 logits, got {logits.dtype}")
  kind = common.kernel_backend("vocab_stats", backend, interpret)
  if block_sizes is None:
    block_sizes = BlockSizes.default_for(vocab=vocab, backend=kind)
  else:
    block_sizes.validate(kind)
  if logits.shape[0] == 0:
    return (jnp.zeros((0,), jnp.float32), jnp.zeros((0,), jnp.float32),
            jnp.zeros((0, k), jnp.float32), jnp.zeros((0, k), jnp.int32))
  return _vocab_stats(logits, k=k, block_sizes=block_sizes, backend=kind,
                      interpret=interpret)
