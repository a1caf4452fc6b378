"""Pallas kernels for the vocabulary reduction (the core of `ops.vocab_reduce`).

`vocab_stats(logits, k=...)` streams each row of logits once and returns its
log-normaliser, entropy and top-k, never materialising probabilities.
"""

from pallas_kernels.vocab_reduce.block_sizes import BlockSizes
from pallas_kernels.vocab_reduce.launcher import (
    MAX_K,
    compiler_params,
    vocab_stats,
)

__all__ = ["MAX_K", "BlockSizes", "compiler_params", "vocab_stats"]
