"""Tile sizes for the prefix-attention kernels, per backend.

GPU (Triton): loaded blocks need a power-of-two number of elements and dots
need every side >= 16, so the new tokens (T), the query heads per kv head
(R) and the head dim are padded to powers of two; one program takes a block
of new tokens times all R heads of one kv head as the rows of its dots.
TPU (Mosaic): rows are (token, head) pairs along sublanes, so a block of new
tokens is a multiple of 16 (bf16 packing); keys run along lanes, so a key
block is a multiple of 128 (the launcher shrinks it to a smaller cache).
"""

import dataclasses
import math

from pallas_kernels.common import is_pow2, next_pow2, round_up

BACKENDS = ("gpu", "tpu")
# Programs that keep every SM of an H100 (132) busy; below this the cache
# is split over more programs whose partial results are merged.
_GPU_TARGET_PROGRAMS = 132
_GPU_MAX_ROWS = 128
_GPU_MIN_BLOCK = 16
# Each split keeps at least this many key blocks, so the merge stays cheap.
_GPU_MIN_BLOCKS_PER_SPLIT = 16
_TPU_MAX_ROWS = 512
_TPU_KEY_BLOCK = 512
_TPU_LANES = 128
_TPU_ROWS = 16


def padded_sizes(num_new: int, group: int, head_dim: int,
                 backend: str) -> tuple[int, int, int]:
  """(new tokens, heads per kv head, head dim) as the kernel sees them."""
  if backend == "gpu":
    return (max(_GPU_MIN_BLOCK, next_pow2(num_new)), next_pow2(group),
            max(_GPU_MIN_BLOCK, next_pow2(head_dim)))
  return (round_up(num_new, _TPU_ROWS), group,
          round_up(head_dim, _TPU_LANES))


@dataclasses.dataclass(frozen=True)
class BlockSizes:
  """Tiling of one prefix-attention launch.

  Attributes:
    block_queries: new tokens per program (GPU) or grid step (TPU); each
      brings all the query heads that share one kv head.
    block_keys: cached keys per step of the loop over the cache.
    num_splits: GPU only: the visible cache of each row is cut into this
      many ranges, each scanned by its own programs; their partial results
      are merged after the kernel (flash-decoding).
    num_warps: Triton warps per program (GPU only).
    num_stages: Triton software-pipelining depth (GPU only).
  """

  block_queries: int
  block_keys: int
  num_splits: int = 1
  num_warps: int | None = None
  num_stages: int | None = None

  @classmethod
  def default_for(cls, *, batch: int, num_new: int, num_heads: int,
                  num_kv_heads: int, head_dim: int, num_slots: int,
                  itemsize: int, backend: str) -> "BlockSizes":
    """Tiles for a problem of this (unpadded) shape on `backend`."""
    if backend not in BACKENDS:
      raise ValueError(f"BlockSizes: backend must be one of {BACKENDS}, got "
                       f"{backend!r}")
    new, group, dim = padded_sizes(num_new, num_heads // num_kv_heads,
                                   head_dim, backend)
    if backend == "tpu":
      block_queries = new
      while block_queries * group > _TPU_MAX_ROWS and block_queries % (
          2 * _TPU_ROWS) == 0:
        block_queries //= 2
      return cls(block_queries, _TPU_KEY_BLOCK)
    block_queries = max(1, min(new, _GPU_MAX_ROWS // group))
    block_keys = 64 if dim <= 128 else 32
    programs = batch * num_kv_heads * math.ceil(num_new / block_queries)
    key_blocks = math.ceil(num_slots / block_keys)
    splits = 1
    while (programs * splits < _GPU_TARGET_PROGRAMS
           and key_blocks >= 2 * splits * _GPU_MIN_BLOCKS_PER_SPLIT):
      splits *= 2
    rows = block_queries * group
    return cls(block_queries, block_keys, splits,
               num_warps=4 if rows <= 64 else 8,
               num_stages=3 if itemsize <= 2 else 2)

  def validate(self, backend: str) -> None:
    """Raises ValueError if these tiles cannot lower on `backend`."""
    for name in ("block_queries", "block_keys", "num_splits"):
      value = getattr(self, name)
      if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"BlockSizes.{name} must be a positive int, got "
                         f"{value!r}")
    if backend == "gpu":
      if not is_pow2(self.block_queries):
        raise ValueError("BlockSizes.block_queries must be a power of two "
                         f"on GPU, got {self.block_queries}")
      if not is_pow2(self.block_keys) or self.block_keys < _GPU_MIN_BLOCK:
        raise ValueError("BlockSizes.block_keys must be a power of two >= "
                         f"{_GPU_MIN_BLOCK} on GPU, got {self.block_keys}")
    else:
      if self.block_queries % _TPU_ROWS:
        raise ValueError("BlockSizes.block_queries must be a multiple of "
                         f"{_TPU_ROWS} on TPU, got {self.block_queries}")
      if self.block_keys % _TPU_LANES:
        raise ValueError("BlockSizes.block_keys must be a multiple of "
                         f"{_TPU_LANES} on TPU, got {self.block_keys}")
      if self.num_splits != 1:
        raise ValueError("BlockSizes.num_splits must be 1 on TPU, got "
                         f"{self.num_splits}")
