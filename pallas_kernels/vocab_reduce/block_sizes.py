"""Tile sizes for the vocabulary-reduction kernels, per backend.

GPU (Triton): one row per program by default (the running top-k merges a
tile only when some row of the block has a candidate, so fewer rows means
fewer merges) and a power-of-two tile of the vocabulary. TPU (Mosaic): rows
along sublanes (a multiple of 16 for bf16 packing), the vocabulary along
lanes in tiles of a multiple of 128.
"""

import dataclasses

from pallas_kernels.common import is_pow2, next_pow2

BACKENDS = ("gpu", "tpu")
_GPU_BLOCK_VOCAB = 4096
_TPU_BLOCK_ROWS = 16
_TPU_BLOCK_VOCAB = 2048
_TPU_LANES = 128


@dataclasses.dataclass(frozen=True)
class BlockSizes:
  """Tiling of one vocabulary-reduction launch.

  Attributes:
    block_rows: rows of logits per program (GPU) or grid step (TPU).
    block_vocab: logits per row and tile of the streaming loop.
    num_warps: Triton warps per program (GPU only).
    num_stages: Triton software-pipelining depth (GPU only).
  """

  block_rows: int
  block_vocab: int
  num_warps: int | None = None
  num_stages: int | None = None

  @classmethod
  def default_for(cls, *, vocab: int, backend: str) -> "BlockSizes":
    """Tiles for rows of `vocab` logits on `backend` ("gpu" or "tpu")."""
    if backend not in BACKENDS:
      raise ValueError(f"BlockSizes: backend must be one of {BACKENDS}, got "
                       f"{backend!r}")
    if backend == "tpu":
      return cls(_TPU_BLOCK_ROWS, _TPU_BLOCK_VOCAB)
    block_vocab = min(_GPU_BLOCK_VOCAB, next_pow2(vocab))
    return cls(1, block_vocab, num_warps=8 if block_vocab >= 2048 else 4,
               num_stages=3)

  def validate(self, backend: str) -> None:
    """Raises ValueError if these tiles cannot lower on `backend`."""
    for name in ("block_rows", "block_vocab"):
      value = getattr(self, name)
      if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"BlockSizes.{name} must be a positive int, got "
                         f"{value!r}")
    if backend == "gpu":
      for name in ("block_rows", "block_vocab"):
        if not is_pow2(getattr(self, name)):
          raise ValueError(f"BlockSizes.{name} must be a power of two on "
                           f"GPU, got {getattr(self, name)}")
    else:
      if self.block_rows % 8:
        raise ValueError("BlockSizes.block_rows must be a multiple of 8 on "
                         f"TPU, got {self.block_rows}")
      if self.block_vocab % _TPU_LANES:
        raise ValueError("BlockSizes.block_vocab must be a multiple of "
                         f"{_TPU_LANES} on TPU, got {self.block_vocab}")
