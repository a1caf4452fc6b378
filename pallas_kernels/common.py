"""Helpers every launcher shares: sizes, padding, backend choice, params."""

import jax
from jax import lax
from jax import numpy as jnp


def next_pow2(n: int) -> int:
  """Smallest power of two >= n (and >= 1)."""
  return 1 << max(0, int(n) - 1).bit_length()


def is_pow2(n: int) -> bool:
  return n >= 1 and n & (n - 1) == 0


def round_up(n: int, multiple: int) -> int:
  return -(-int(n) // multiple) * multiple


def dot_precision(x: jax.Array):
  """Precision of a kernel's dots on x: f32 products must stay f32, where
  Triton would use TF32 and the MXU a single bf16 pass."""
  return lax.Precision.HIGHEST if x.dtype == jnp.float32 else None


def pad_to(x: jax.Array, shape, value=0) -> jax.Array:
  """x padded at the end of each axis to `shape` with `value`; x itself
  when no axis grows, so large inputs are not copied."""
  widths = [(0, s - x_s) for s, x_s in zip(shape, x.shape, strict=True)]
  if not any(hi for _, hi in widths):
    return x
  return jnp.pad(x, widths, constant_values=value)


def kernel_backend(op: str, backend: str | None, interpret: bool) -> str:
  """Which kernel `op` builds: "gpu" (Triton loop) or "tpu" (Mosaic grid).

  `backend` None means `jax.default_backend()`. Interpret mode on a CPU runs
  the GPU kernel; a compiled kernel on a CPU is an error.
  """
  if backend not in (None, "gpu", "tpu", "cpu"):
    raise ValueError(f"{op}: backend must be None, 'gpu', 'tpu' or 'cpu', "
                     f"got {backend!r}")
  platform = backend or jax.default_backend()
  if platform in ("gpu", "cuda", "rocm"):
    return "gpu"
  if platform == "tpu":
    return "tpu"
  if interpret:
    return "gpu"
  raise NotImplementedError(
      f"{op}: no compiled Pallas kernel on {platform!r}; use "
      "interpret=True or the XLA implementation")


def compiler_params(backend: str, block_sizes, dimension_semantics):
  """Explicit compiler parameters for `backend`; None for any other.

  Args:
    backend: "gpu" (Triton: `block_sizes.num_warps` and `num_stages`) or
      "tpu" (Mosaic: `dimension_semantics` of the grid axes).
    block_sizes: the kernel's tile sizes.
    dimension_semantics: "parallel" or "arbitrary" per grid axis.
  """
  if backend == "gpu":
    from jax.experimental.pallas import triton as pltriton  # noqa: PLC0415

    return pltriton.CompilerParams(num_warps=block_sizes.num_warps,
                                   num_stages=block_sizes.num_stages)
  if backend == "tpu":
    from jax.experimental.pallas import tpu as pltpu  # noqa: PLC0415

    return pltpu.CompilerParams(
        dimension_semantics=tuple(dimension_semantics))
  return None
