"""Jitted functional ops shared by the zoo; importable with only jax + numpy."""

from ops.kmeans import kmeans
from ops.vq import straight_through, vq_nearest, vq_nearest_reference

__all__ = ["kmeans", "straight_through", "vq_nearest", "vq_nearest_reference"]
