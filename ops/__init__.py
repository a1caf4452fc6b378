"""Jitted functional ops shared by the zoo; importable with only jax + numpy."""

from ops.kmeans import kmeans
from ops.maxsim import maxsim, maxsim_reference
from ops.vq import straight_through, vq_nearest, vq_nearest_reference

__all__ = [
    "kmeans",
    "maxsim",
    "maxsim_reference",
    "straight_through",
    "vq_nearest",
    "vq_nearest_reference",
]
