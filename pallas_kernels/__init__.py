"""Pallas kernels behind the ops in `ops/`.

Only `jax.experimental.pallas` is imported at package import; backend modules
(Triton, Mosaic GPU, Mosaic TPU) are imported by the launchers that need them.
"""
