"""The hashing trick: id -> hash_ids(id) mod M rows, M = N / r."""

import dataclasses

from jax import numpy as jnp

from ops.hashing import hash_ids
from zoo.vq.embedding_compression.methods import (
    FLOAT_BYTES,
    CompressionConfig,
    table,
)


@dataclasses.dataclass(frozen=True)
class Hash(CompressionConfig):
  """Attributes:

    seed: the hash function's seed.
  """

  kind = "hash"
  seed: int = 0

  def num_rows(self, spec) -> int:
    rows = self.allowed_bytes(spec) // (spec.dim * FLOAT_BYTES)
    if rows < 1:
      raise self.unreachable(spec, spec.dim * FLOAT_BYTES)
    return min(rows, spec.num_ids)

  def param_bytes(self, spec):
    return self.num_rows(spec) * spec.dim * FLOAT_BYTES

  def embed(self, module, ids, spec):
    rows = self.num_rows(spec)
    weights = table(module, "table", (rows, spec.dim))
    return jnp.take(weights, hash_ids(ids, self.seed, num_buckets=rows),
                    axis=0)
