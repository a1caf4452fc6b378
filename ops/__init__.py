"""Jitted functional ops shared by the zoo; importable with only jax + numpy."""

from ops.attention import (
    causal_mask,
    key_mask,
    prefix_attention,
    prefix_attention_reference,
    sliding_window_mask,
)
from ops.crisp import cluster_assignments, cluster_tokens
from ops.fde import (
    FDEConfig,
    fde_documents,
    fde_queries,
    fde_random_matrices,
)
from ops.kmeans import kmeans
from ops.maxsim import maxsim, maxsim_reference
from ops.vocab import VocabStats, vocab_reduce, vocab_reduce_reference
from ops.vq import straight_through, vq_nearest, vq_nearest_reference

__all__ = [
    "FDEConfig",
    "VocabStats",
    "causal_mask",
    "cluster_assignments",
    "cluster_tokens",
    "fde_documents",
    "fde_queries",
    "fde_random_matrices",
    "key_mask",
    "kmeans",
    "maxsim",
    "maxsim_reference",
    "prefix_attention",
    "prefix_attention_reference",
    "sliding_window_mask",
    "straight_through",
    "vocab_reduce",
    "vocab_reduce_reference",
    "vq_nearest",
    "vq_nearest_reference",
]
