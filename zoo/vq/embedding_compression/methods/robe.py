"""ROBE (Desai et al., 2022): every entry hashed into one shared array.

e(i)[j] = sign(i, j) * A[h(i, j) mod S] with Z = 1 (entries hashed one by
one, the artifact's setting) and S = the budget's number of floats; h and
sign are `ops.hash_ids` of i * d + j under two seeds.
"""

import dataclasses

from jax import numpy as jnp

from ops.hashing import hash_ids
from zoo.vq.embedding_compression.methods import (
    FLOAT_BYTES,
    CompressionConfig,
    table,
)


@dataclasses.dataclass(frozen=True)
class ROBE(CompressionConfig):
  kind = "robe"
  seed: int = 0

  def size(self, spec) -> int:
    size = min(self.allowed_bytes(spec) // FLOAT_BYTES,
               spec.num_ids * spec.dim)
    if size < 1:
      raise self.unreachable(spec, FLOAT_BYTES)
    return size

  def param_bytes(self, spec):
    return self.size(spec) * FLOAT_BYTES

  def embed(self, module, ids, spec):
    size = self.size(spec)
    shared = table(module, "array", (size,))
    entry = ids[..., None] * spec.dim + jnp.arange(spec.dim)
    slot = hash_ids(entry, self.seed, num_buckets=size)
    sign = 1.0 - 2.0 * (hash_ids(entry, self.seed + 1) & 1).astype(jnp.float32)
    return sign * jnp.take(shared, slot)
