"""Pallas kernels for nearest-codeword search (the core of `ops.vq_nearest`).

`nearest_codes(x, codebook, bias, k=...)` returns the top-k codes of each
row by `x . c + bias` for many codebooks at once, streaming the codebook in
tiles so that the N x K score matrix never reaches HBM.
"""

from pallas_kernels.vq.block_sizes import BlockSizes
from pallas_kernels.vq.launcher import MAX_K, nearest_codes

__all__ = ["MAX_K", "BlockSizes", "nearest_codes"]
