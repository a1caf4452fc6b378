"""Quotient-remainder compositional embeddings (Shi et al., 2020).

e(i) = Q[i // m] * R[i mod m]: distinct ids have distinct (quotient,
remainder) pairs, so no two ids share a vector, with ceil(N / m) + m rows.
The collision m is the smallest that fits the budget (the artifact's
search). Ours: R starts at 1 (the paper draws both tables at random), so
that the product starts as Q's row and moves as fast as a plain table's;
a product of two small random rows barely moves in one epoch.
"""

import dataclasses
import math

from jax import numpy as jnp

from zoo.vq.embedding_compression.methods import (
    FLOAT_BYTES,
    CompressionConfig,
    table,
)


def qr_indices(ids, collision: int):
  """(quotient, remainder) row indices of global ids."""
  return ids // collision, ids % collision


@dataclasses.dataclass(frozen=True)
class QR(CompressionConfig):
  kind = "qr"

  def rows(self, collision: int, spec) -> int:
    return math.ceil(spec.num_ids / collision) + collision

  def collision(self, spec) -> int:
    """The smallest m whose two tables fit the budget."""
    row_bytes = spec.dim * FLOAT_BYTES
    best = math.isqrt(spec.num_ids)  # the fewest rows
    for m in range(1, best + 2):
      if self.rows(m, spec) * row_bytes <= self.allowed_bytes(spec):
        return m
    smallest = min(self.rows(m, spec) for m in (best, best + 1))
    raise self.unreachable(spec, smallest * row_bytes)

  def param_bytes(self, spec):
    return self.rows(self.collision(spec), spec) * spec.dim * FLOAT_BYTES

  def embed(self, module, ids, spec):
    m = self.collision(spec)
    quotient = table(module, "quotient",
                     (math.ceil(spec.num_ids / m), spec.dim))
    remainder = module.param(
        "remainder", lambda key, shape: jnp.ones(shape, jnp.float32),
        (m, spec.dim))
    q, r = qr_indices(ids, m)
    return jnp.take(quotient, q, axis=0) * jnp.take(remainder, r, axis=0)
