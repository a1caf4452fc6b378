"""The compression methods' common base: a budget, stored bytes, a lookup.

A kind sizes itself from the budget r: the largest configuration whose
stored bytes fit in full_bytes / r, where full_bytes = N * d * 4 for N ids
of width d in float32. A budget no configuration of the kind reaches is a
ValueError naming the smallest table the kind can store.

Ids reach a kind as global ids (field * ids_per_field + id) of one table
over all fields, as in the artifact (no per-field tables). The kinds that
use frequency (mgqe, mde) read each id's popularity rank within its field
from the "frequency" collection (`frequency_rank`), which the training task
fills from the training split's counts (`dlrm.with_frequencies`).

Variables are created on the embedding module passed in; auxiliary losses
(dpq, mgqe) are sown into the "losses" collection.
"""

import abc
import dataclasses
import math

import flax.linen as nn
import jax
from jax import numpy as jnp

from zoo import sharding
from zoo.plugins import Plugin

FLOAT_BYTES = 4
# Initial values of embedding entries (ours): N(0, 0.01^2).
INIT_STD = 0.01


@dataclasses.dataclass(frozen=True)
class TableSpec:
  """The table a method compresses: fields x ids_per_field rows of width d."""

  num_fields: int
  ids_per_field: int
  dim: int

  @property
  def num_ids(self) -> int:
    return self.num_fields * self.ids_per_field

  @property
  def full_bytes(self) -> int:
    return self.num_ids * self.dim * FLOAT_BYTES


def frequency_rank(module: nn.Module, ids: jax.Array, spec: TableSpec
                   ) -> jax.Array:
  """Popularity rank (0 = most frequent) of global ids within their field,
  from the "frequency" collection (id order until counts are set)."""
  ranks = module.variable(
      "frequency", "rank",
      lambda: jnp.arange(spec.num_ids, dtype=jnp.int32) % spec.ids_per_field)
  return jnp.take(ranks.value, ids)


@dataclasses.dataclass(frozen=True)
class CompressionConfig(Plugin, abc.ABC):
  """Base of the method kinds.

  Attributes:
    budget: r >= 1; the method stores at most full_bytes / r bytes.
  """

  package = "zoo.vq.embedding_compression.methods"
  budget: float = 1.0

  def __post_init__(self):
    if not (math.isfinite(self.budget) and self.budget >= 1):
      raise ValueError(f"{self.kind}: budget must be a finite ratio >= 1, got "
                       f"{self.budget}")

  def allowed_bytes(self, spec: TableSpec) -> int:
    return math.floor(spec.full_bytes / self.budget)

  def unreachable(self, spec: TableSpec, smallest: int) -> ValueError:
    """The error for a budget below the smallest table the kind stores."""
    return ValueError(
        f"{self.kind}: budget {self.budget:g}x (at most "
        f"{self.allowed_bytes(spec)} bytes) is unreachable; the smallest "
        f"table it can store takes {smallest} bytes, "
        f"{spec.full_bytes / smallest:.3g}x")

  def fits(self, spec: TableSpec, stored: int) -> bool:
    return stored <= self.allowed_bytes(spec)

  @abc.abstractmethod
  def param_bytes(self, spec: TableSpec) -> int:
    """Bytes the trained table stores at inference (ValueError if the
    budget is unreachable)."""

  @abc.abstractmethod
  def embed(self, module: nn.Module, ids: jax.Array, spec: TableSpec
            ) -> jax.Array:
    """Global ids [...] int32 -> [..., d] float32; creates variables on
    `module` (inside its compact method)."""

  def finalize(self, variables: dict, spec: TableSpec) -> dict:
    """Variables as stored after training (pep prunes); identity here."""
    del spec
    return variables


def table(module: nn.Module, name: str, shape: tuple[int, ...],
          std: float = INIT_STD) -> jax.Array:
  """A [rows, ...] float32 parameter drawn N(0, std^2), rows on "vocab"."""
  axes = (sharding.VOCAB,) + (None,) * (len(shape) - 1)
  return module.param(name, nn.with_logical_partitioning(
      nn.initializers.normal(std), axes), shape, jnp.float32)


def round_ste(x: jax.Array) -> jax.Array:
  """round(x) forward, identity gradient."""
  return x + jax.lax.stop_gradient(jnp.round(x) - x)


def largest(candidates, fits):
  """The last candidate for which `fits` holds, or None."""
  found = None
  for c in candidates:
    if fits(c):
      found = c
  return found
