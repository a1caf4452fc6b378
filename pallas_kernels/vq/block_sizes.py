"""Tile sizes for the nearest-codeword kernels, per backend.

GPU (Triton): every loaded block must have a power-of-two number of
elements and dots need each side >= 16, so rows, codes and the (padded)
feature dim are powers of two >= 16. TPU (Mosaic): rows run along lanes
(multiples of 128), codes along sublanes (multiples of 16 for bf16 packing)
and the feature dim is padded to a multiple of 128.
"""

import dataclasses
import math

import numpy as np

from pallas_kernels.common import is_pow2, next_pow2, round_up

BACKENDS = ("gpu", "tpu")
# Enough programs to fill an H100 (132 SMs) twice over.
_GPU_TARGET_PROGRAMS = 264
# Bytes of one tile of codes (codes x padded dim); x tiles get up to twice
# this for k = 1.
_GPU_TILE_BYTES = 64 * 1024
# Shared memory for the x tile plus the pipelined code tiles (H100: 227 KB).
_GPU_SMEM_BYTES = 192 * 1024
_GPU_MIN_BLOCK = 16
# VMEM bytes of one x or code tile on TPU.
_TPU_TILE_BYTES = 2 * 1024 * 1024
_TPU_LANES = 128
_TPU_SUBLANES = 16


def _pow2_floor(n: int) -> int:
  return 1 << (max(1, int(n)).bit_length() - 1)


def padded_dim(dim: int, backend: str) -> int:
  """The feature dim the kernel sees after zero padding (d = 0 included)."""
  if backend == "gpu":
    return max(_GPU_MIN_BLOCK, next_pow2(dim))
  return round_up(max(dim, 1), _TPU_LANES)


def padded_slots(k: int) -> int:
  """Output slots per row: k rounded up to a power of two (Triton stores)."""
  return next_pow2(k)


@dataclasses.dataclass(frozen=True)
class BlockSizes:
  """Tiling of one nearest-codeword launch.

  Attributes:
    block_rows: rows of x per program (GPU) or grid step (TPU).
    block_codes: codes scored per tile.
    num_splits: the codes are split into this many contiguous ranges, each
      searched by its own programs; the per-split top-k lists are merged
      after the kernel. Raises parallelism when there are few row blocks.
    num_warps: Triton warps per program (GPU only).
    num_stages: Triton software-pipelining depth (GPU only).
  """

  block_rows: int
  block_codes: int
  num_splits: int = 1
  num_warps: int | None = None
  num_stages: int | None = None

  @classmethod
  def default_for(cls, *, num_rows: int, num_groups: int, num_codes: int,
                  dim: int, dtype, k: int, backend: str) -> "BlockSizes":
    """Tile sizes for a problem of this shape on `backend` ("gpu"/"tpu").

    Raises:
      NotImplementedError: the feature dim is too large for one tile.
    """
    if backend not in BACKENDS:
      raise ValueError(f"BlockSizes: backend must be one of {BACKENDS}, got "
                       f"{backend!r}")
    row_bytes = padded_dim(dim, backend) * np.dtype(dtype).itemsize
    if backend == "gpu":
      return cls._gpu(num_rows, num_groups, num_codes, row_bytes, k)
    return cls._tpu(num_rows, num_codes, row_bytes)

  @classmethod
  def _gpu(cls, num_rows, num_groups, num_codes, row_bytes, k):
    # k = 1 keeps a [rows, codes] running max in registers, so it affords
    # taller row blocks; k > 1 carries 2k [rows, 1] slots per row instead.
    x_bytes = 2 * _GPU_TILE_BYTES if k == 1 else _GPU_TILE_BYTES
    if row_bytes * _GPU_MIN_BLOCK > _GPU_TILE_BYTES:
      raise NotImplementedError(
          f"vq kernel: rows of {row_bytes} bytes do not fit a GPU tile")
    max_rows = 256 if k == 1 else 128 if k <= 4 else 64
    block_rows = min(max_rows, _pow2_floor(x_bytes // row_bytes),
                     max(_GPU_MIN_BLOCK, next_pow2(num_rows)))
    block_codes = min(64 if k == 1 else 128,
                      _pow2_floor(_GPU_TILE_BYTES // row_bytes),
                      max(_GPU_MIN_BLOCK, next_pow2(num_codes)))
    while (block_rows > _GPU_MIN_BLOCK
           and (block_rows + 2 * block_codes) * row_bytes > _GPU_SMEM_BYTES):
      block_rows //= 2  # leave room for two pipelined code tiles
    programs = math.ceil(num_rows / block_rows) * num_groups
    tiles = math.ceil(num_codes / block_codes)
    splits = 1
    while programs * splits < _GPU_TARGET_PROGRAMS and tiles >= 8 * splits:
      splits *= 2
    warps = 8 if block_rows * block_codes >= 128 * 128 else 4
    stages = (_GPU_SMEM_BYTES - block_rows * row_bytes) // (
        block_codes * row_bytes)
    return cls(block_rows, block_codes, splits, num_warps=warps,
               num_stages=int(min(3, stages)))

  @classmethod
  def _tpu(cls, num_rows, num_codes, row_bytes):
    if _TPU_LANES * row_bytes > _TPU_TILE_BYTES:
      raise NotImplementedError(
          f"vq kernel: rows of {row_bytes} bytes do not fit a TPU tile")
    block_rows = min(512, round_up(num_rows, _TPU_LANES))
    while block_rows > _TPU_LANES and block_rows * row_bytes > _TPU_TILE_BYTES:
      block_rows = max(_TPU_LANES, round_up(block_rows // 2, _TPU_LANES))
    block_codes = min(512, round_up(num_codes, _TPU_SUBLANES))
    while (block_codes > _TPU_SUBLANES
           and block_codes * row_bytes > _TPU_TILE_BYTES):
      block_codes = max(_TPU_SUBLANES,
                        round_up(block_codes // 2, _TPU_SUBLANES))
    return cls(block_rows, block_codes)

  def validate(self, backend: str) -> None:
    """Raises ValueError if these tiles cannot lower on `backend`."""
    for name in ("block_rows", "block_codes", "num_splits"):
      value = getattr(self, name)
      if not isinstance(value, int) or value < 1:
        raise ValueError(f"BlockSizes.{name} must be a positive int, got "
                         f"{value!r}")
    for name in ("num_warps", "num_stages"):
      value = getattr(self, name)
      if value is not None and (not isinstance(value, int) or value < 1):
        raise ValueError(f"BlockSizes.{name} must be None or a positive "
                         f"int, got {value!r}")
    if backend == "gpu":
      for name in ("block_rows", "block_codes"):
        value = getattr(self, name)
        if not is_pow2(value) or value < _GPU_MIN_BLOCK:
          raise ValueError(f"BlockSizes.{name} must be a power of two >= "
                           f"{_GPU_MIN_BLOCK} on GPU, got {value}")
    else:
      if self.block_rows % _TPU_LANES:
        raise ValueError("BlockSizes.block_rows must be a multiple of "
                         f"{_TPU_LANES} on TPU, got {self.block_rows}")
      if self.block_codes % _TPU_SUBLANES:
        raise ValueError("BlockSizes.block_codes must be a multiple of "
                         f"{_TPU_SUBLANES} on TPU, got {self.block_codes}")
