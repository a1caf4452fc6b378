"""Pallas kernels for prefix attention (the core of `ops.prefix_attention`).

`prefix_attention(q, k, v, prefix_len, qq_mask)` attends T new queries to
the visible part of a KV cache and to each other under a query-to-query
mask, reading only the cache blocks below each row's prefix length.
"""

from pallas_kernels.prefix_attention.block_sizes import BlockSizes
from pallas_kernels.prefix_attention.launcher import (
    compiler_params,
    prefix_attention,
)

__all__ = ["BlockSizes", "compiler_params", "prefix_attention"]
