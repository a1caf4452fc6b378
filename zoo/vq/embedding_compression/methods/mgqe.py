"""MGQE (Kang et al., 2020): DPQ with more codes for frequent ids.

The top `top_fraction` of each field's ids (by popularity rank) choose among
`head_codes` codes per part, the rest among the first `tail_codes` of the
same codebooks (256 and 64 over 10% in the artifact); the number of parts
D is the largest that fits the budget.
"""

import dataclasses
import math

from jax import numpy as jnp

from zoo.vq.embedding_compression.methods import (
    FLOAT_BYTES,
    CompressionConfig,
    frequency_rank,
    table,
)
from zoo.vq.embedding_compression.methods.dpq import (
    most_parts,
    nearest_codes,
    quantize,
)


@dataclasses.dataclass(frozen=True)
class MGQE(CompressionConfig):
  """Attributes:

    head_codes: codes per part for frequent ids.
    tail_codes: codes per part for the others.
    top_fraction: share of each field's ids that are frequent.
    max_parts: the most parts tried.
  """

  kind = "mgqe"
  head_codes: int = 256
  tail_codes: int = 64
  top_fraction: float = 0.1
  max_parts: int = 8

  def __post_init__(self):
    super().__post_init__()
    if not 1 <= self.tail_codes <= self.head_codes:
      raise ValueError(f"mgqe: need 1 <= tail_codes <= head_codes, got "
                       f"{self.tail_codes} and {self.head_codes}")

  def head_ids(self, spec) -> int:
    return math.ceil(self.top_fraction * spec.ids_per_field)

  def stored(self, parts: int, spec) -> int:
    head = self.head_ids(spec) * spec.num_fields
    bits = (head * math.ceil(math.log2(self.head_codes))
            + (spec.num_ids - head) * math.ceil(math.log2(self.tail_codes)))
    return (math.ceil(parts * bits / 8)
            + self.head_codes * spec.dim * FLOAT_BYTES)

  def parts(self, spec) -> int:
    return most_parts(self, spec)

  def param_bytes(self, spec):
    return self.stored(self.parts(spec), spec)

  def embed(self, module, ids, spec):
    parts = self.parts(spec)
    query = table(module, "query", (spec.num_ids, spec.dim))
    codebook = table(module, "codebook",
                     (parts, self.head_codes, spec.dim // parts))
    q = jnp.take(query, ids, axis=0).reshape(*ids.shape, parts, -1)
    head = (frequency_rank(module, ids, spec)
            < self.head_ids(spec))[..., None]
    indices = jnp.where(head, nearest_codes(q, codebook),
                        nearest_codes(q, codebook, self.tail_codes))
    return quantize(module, q, codebook, indices).reshape(*ids.shape,
                                                          spec.dim)
