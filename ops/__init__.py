"""Jitted functional ops shared by the zoo; importable with only jax + numpy."""

from ops.crisp import cluster_assignments, cluster_tokens
from ops.fde import (
    FDEConfig,
    fde_documents,
    fde_queries,
    fde_random_matrices,
)
from ops.kmeans import kmeans
from ops.maxsim import maxsim, maxsim_reference
from ops.vq import straight_through, vq_nearest, vq_nearest_reference

__all__ = [
    "FDEConfig",
    "cluster_assignments",
    "cluster_tokens",
    "fde_documents",
    "fde_queries",
    "fde_random_matrices",
    "kmeans",
    "maxsim",
    "maxsim_reference",
    "straight_through",
    "vq_nearest",
    "vq_nearest_reference",
]
