"""Codebook kinds of `zoo.vq.quantizer.VectorQuantizer`, one module each.

A kind says where the K codes come from and how they learn: a trained
parameter (`learned`), moving averages of the vectors assigned to them
(`ema`), a frozen random matrix seen through one trained linear layer
(`simvq`). The quantizer itself (nearest code, losses, straight-through or
rotation-trick gradients, usage metrics) is the same for every kind, so a
new VQ paper whose novelty is the codebook adds one module here: a frozen
dataclass subclassing `CodebookConfig` with a `kind` tag.

Variables are created on the quantizer itself (the module passed in), so
parameter paths and initial values do not depend on the plug-in layout.
"""

import abc
import dataclasses
from typing import ClassVar

import flax.linen as nn
import jax
from jax import numpy as jnp

import ops
from zoo.plugins import Plugin


@dataclasses.dataclass(frozen=True)
class CodebookConfig(Plugin, abc.ABC):
  """Base of the codebook kinds.

  Attributes:
    trained_by_gradient: the quantizer adds the codebook loss
      |sg(z) - q|^2 (class attribute; False where the codes are updated
      outside the gradient).
  """

  package = "zoo.vq.codebooks"
  trained_by_gradient: ClassVar[bool] = True

  @abc.abstractmethod
  def codes(self, quantizer: nn.Module, num_codes: int, dim: int,
            z_flat: jax.Array | None) -> jax.Array:
    """The effective codebook [K, d], created on `quantizer` (inside its
    compact method). `z_flat` [N, d] is the first batch at initialisation
    (for data-dependent inits), else None."""

  def update(self, quantizer: nn.Module, z_flat: jax.Array,
             counts: jax.Array, one_hot: jax.Array) -> None:
    """Updates outside the gradient, at train time; none by default.

    Args:
      quantizer: the module (its variables are updated in place).
      z_flat: [N, d] the batch's vectors.
      counts: [K] how many were assigned to each code.
      one_hot: [N, K] the assignments.
    """
    del quantizer, z_flat, counts, one_hot


def initial_codes(key, num_codes: int, dim: int, z_flat=None, *,
                  kmeans_iters: int = 0) -> jax.Array:
  """[K, d] initial codes: k-means of the first batch when `kmeans_iters`
  and data are given, else N(0, 1/d).

  Flax also calls inits after initialisation, with no data, to check a
  stored codebook's shape; the random branch gives that shape. The codes
  are float32, also under jax_enable_x64.
  """
  if kmeans_iters and z_flat is not None:
    return ops.kmeans(z_flat.astype(jnp.float32), num_codes, key,
                      iters=kmeans_iters)[0]
  return jax.random.normal(key, (num_codes, dim), jnp.float32) * (dim**-0.5)
