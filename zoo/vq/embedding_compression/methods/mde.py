"""Mixed-dimension embeddings (Ginart et al., 2021): fewer dims for rare ids.

Each field's ids are cut by popularity rank into blocks (ours: the top 1%,
the next 9%, the other 90%); block k has width
d_k = max(1, floor(d * 2^(-alpha k))) and a [d_k, d] projection (none where
d_k = d). alpha is the smallest of 0, 0.25, 0.5, ... (the widest tables)
that fits the budget; every id keeps at least one dimension, so the ratio
stays below d.
"""

import dataclasses
import math

import jax
from jax import numpy as jnp

from zoo.vq.embedding_compression.methods import (
    FLOAT_BYTES,
    CompressionConfig,
    frequency_rank,
    table,
)

ALPHAS = tuple(i / 4 for i in range(65))


@dataclasses.dataclass(frozen=True)
class MDE(CompressionConfig):
  """Attributes:

    block_ends: cumulative shares of each field's ids closing each block.
  """

  kind = "mde"
  block_ends: tuple[float, ...] = (0.01, 0.1, 1.0)

  def bounds(self, spec) -> list[int]:
    """Rank boundaries [0, e_1, ..., ids_per_field] within a field."""
    ends = [math.ceil(e * spec.ids_per_field) for e in self.block_ends]
    return [0] + ends[:-1] + [spec.ids_per_field]

  def widths(self, alpha: float, spec) -> list[int]:
    return [max(1, math.floor(spec.dim * 2 ** (-alpha * k)))
            for k in range(len(self.block_ends))]

  def stored(self, widths, spec) -> int:
    b = self.bounds(spec)
    floats = sum(spec.num_fields * (b[k + 1] - b[k]) * w
                 + (w * spec.dim if w < spec.dim else 0)
                 for k, w in enumerate(widths))
    return floats * FLOAT_BYTES

  def block_widths(self, spec) -> list[int]:
    for alpha in ALPHAS:
      widths = self.widths(alpha, spec)
      if self.fits(spec, self.stored(widths, spec)):
        return widths
    raise self.unreachable(spec, self.stored(self.widths(ALPHAS[-1], spec),
                                             spec))

  def param_bytes(self, spec):
    return self.stored(self.block_widths(spec), spec)

  def embed(self, module, ids, spec):
    b = self.bounds(spec)
    rank = frequency_rank(module, ids, spec)
    field = ids // spec.ids_per_field
    out = jnp.zeros((*ids.shape, spec.dim), jnp.float32)
    for k, width in enumerate(self.block_widths(spec)):
      size = b[k + 1] - b[k]
      rows = table(module, f"block{k}", (spec.num_fields * size, width))
      inside = (rank >= b[k]) & (rank < b[k + 1])
      row = field * size + jnp.clip(rank - b[k], 0, size - 1)
      e = jnp.take(rows, row, axis=0)
      if width < spec.dim:
        e = e @ module.param(f"projection{k}",
                             jax.nn.initializers.lecun_normal(),
                             (width, spec.dim), jnp.float32)
      out = jnp.where(inside[..., None], e, out)
    return out
