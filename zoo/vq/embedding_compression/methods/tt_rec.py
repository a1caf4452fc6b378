"""TT-Rec (Yin et al., 2021): the table as a tensor train of three cores.

Row i = (i1, i2, i3) in an n1 x n2 x n3 grid (n1 = n2 = ceil(N^(1/3)),
n1 n2 n3 >= N) and width d = d1 d2 d3 (three near-equal factors):
e(i)[j1, j2, j3] = sum_{a, b} G1[i1, j1, a] G2[i2, a, j2, b] G3[i3, b, j3].
The rank R is the largest (up to `max_rank`) that fits the budget. Cores
are drawn N(0, s^2) with R^2 s^6 = 0.01^2, so rows start with the plain
table's spread (TT-Rec's sampled-Gaussian init, ours in detail).
"""

import dataclasses
import itertools
import math

import numpy as np
from jax import numpy as jnp

from zoo.vq.embedding_compression.methods import (
    FLOAT_BYTES,
    INIT_STD,
    CompressionConfig,
    largest,
    table,
)


def grid(num_ids: int) -> tuple[int, int, int]:
  """(n1, n2, n3) with n1 n2 n3 >= num_ids."""
  n = math.ceil(round(num_ids ** (1 / 3), 9))
  return n, n, math.ceil(num_ids / (n * n))


def width_factors(dim: int) -> tuple[int, int, int]:
  """d1 <= d2 <= d3 with d1 d2 d3 = dim, as equal as possible."""
  triples = [(a, b, dim // (a * b)) for a, b in itertools.product(
      range(1, dim + 1), repeat=2) if dim % (a * b) == 0]
  return min((t for t in triples if t[0] <= t[1] <= t[2]),
             key=lambda t: t[2] - t[0])


def core_floats(spec, rank: int) -> int:
  (n1, n2, n3), (d1, d2, d3) = grid(spec.num_ids), width_factors(spec.dim)
  return n1 * d1 * rank + n2 * d2 * rank * rank + n3 * d3 * rank


def tt_rows(g1, g2, g3, i1, i2, i3):
  """Rows of the train at grid indices [...] -> [..., d1 * d2 * d3]."""
  left = jnp.einsum("...ja,...akb->...jkb", g1[i1], g2[i2])
  rows = jnp.einsum("...jkb,...bl->...jkl", left, g3[i3])
  return rows.reshape(*rows.shape[:-3], -1)


@dataclasses.dataclass(frozen=True)
class TTRec(CompressionConfig):
  """Attributes:

    max_rank: the largest TT rank tried (bounds the lookup's cost).
  """

  kind = "tt_rec"
  max_rank: int = 128

  def rank(self, spec) -> int:
    rank = largest(range(1, self.max_rank + 1), lambda r: self.fits(
        spec, core_floats(spec, r) * FLOAT_BYTES))
    if rank is None:
      raise self.unreachable(spec, core_floats(spec, 1) * FLOAT_BYTES)
    return rank

  def param_bytes(self, spec):
    return core_floats(spec, self.rank(spec)) * FLOAT_BYTES

  def embed(self, module, ids, spec):
    rank = self.rank(spec)
    (n1, n2, n3), (d1, d2, d3) = grid(spec.num_ids), width_factors(spec.dim)
    std = float(np.power(INIT_STD**2 / rank**2, 1 / 6))
    g1 = table(module, "core1", (n1, d1, rank), std)
    g2 = table(module, "core2", (n2, rank, d2, rank), std)
    g3 = table(module, "core3", (n3, rank, d3), std)
    return tt_rows(g1, g2, g3, ids // (n2 * n3), (ids // n3) % n2, ids % n3)
