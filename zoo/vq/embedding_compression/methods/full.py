"""The uncompressed table: one float32 row per id (ratio 1)."""

import dataclasses

from jax import numpy as jnp

from zoo.vq.embedding_compression.methods import CompressionConfig, table


@dataclasses.dataclass(frozen=True)
class Full(CompressionConfig):
  kind = "full"

  def param_bytes(self, spec):
    if not self.fits(spec, spec.full_bytes):
      raise self.unreachable(spec, spec.full_bytes)
    return spec.full_bytes

  def embed(self, module, ids, spec):
    self.param_bytes(spec)
    rows = table(module, "table", (spec.num_ids, spec.dim))
    return jnp.take(rows, ids, axis=0)
