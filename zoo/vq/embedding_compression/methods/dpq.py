"""Differentiable product quantization (Chen et al., 2020), DPQ-VQ form.

Each id's query row (d floats, a training-time table) is cut into D parts;
each part takes its nearest of K codes (`ops.vq_nearest` over D grouped
codebooks) and the output is the codes, with the straight-through gradient
to the query and VQ-VAE's losses (codebook + 0.25 x commitment, ours) sown
into "losses". At inference only the codes (D x log2 K bits per id) and the
codebooks are stored; that is `param_bytes`. D is the largest divisor of d
(up to 8, the artifact's parts) that fits the budget.
"""

import dataclasses
import math

import jax
from jax import numpy as jnp

import ops
from zoo.vq.embedding_compression.methods import (
    FLOAT_BYTES,
    CompressionConfig,
    largest,
    table,
)

COMMITMENT = 0.25


def code_bytes(bits_per_id: float, num_ids: int) -> int:
  return math.ceil(num_ids * bits_per_id / 8)


def nearest_codes(q, codebook, num_codes: int | None = None):
  """Indices [..., D] of the nearest of the first `num_codes` codes."""
  book = codebook if num_codes is None else codebook[:, :num_codes]
  return ops.vq_nearest(jax.lax.stop_gradient(q),
                        jax.lax.stop_gradient(book))[0][..., 0]


def quantize(module, q, codebook, indices):
  """Straight-through codes for queries q [..., D, d/D]; sows the losses."""
  codes = codebook[jnp.arange(codebook.shape[0]), indices]
  module.sow("losses", "product_quantization",
             jnp.mean((jax.lax.stop_gradient(q) - codes) ** 2)
             + COMMITMENT * jnp.mean((q - jax.lax.stop_gradient(codes)) ** 2))
  return ops.straight_through(q, codes)


def part_counts(spec, max_parts: int) -> list[int]:
  return [p for p in range(1, min(spec.dim, max_parts) + 1)
          if spec.dim % p == 0]


def most_parts(method, spec) -> int:
  """The most sub-vector parts (at most `method.max_parts`) whose stored
  bytes, `method.stored(parts, spec)`, fit the budget; the unreachable-budget
  error when not even one part does."""
  parts = largest(part_counts(spec, method.max_parts),
                  lambda p: method.fits(spec, method.stored(p, spec)))
  if parts is None:
    raise method.unreachable(spec, method.stored(1, spec))
  return parts


@dataclasses.dataclass(frozen=True)
class DPQ(CompressionConfig):
  """Attributes:

    num_codes: K per part (32 in the artifact).
    max_parts: the most parts D tried (8 in the artifact).
  """

  kind = "dpq"
  num_codes: int = 32
  max_parts: int = 8

  def stored(self, parts: int, spec) -> int:
    bits = parts * math.ceil(math.log2(self.num_codes))
    return (code_bytes(bits, spec.num_ids)
            + self.num_codes * spec.dim * FLOAT_BYTES)

  def parts(self, spec) -> int:
    return most_parts(self, spec)

  def param_bytes(self, spec):
    return self.stored(self.parts(spec), spec)

  def embed(self, module, ids, spec):
    parts = self.parts(spec)
    query = table(module, "query", (spec.num_ids, spec.dim))
    codebook = table(module, "codebook",
                     (parts, self.num_codes, spec.dim // parts))
    q = jnp.take(query, ids, axis=0).reshape(*ids.shape, parts, -1)
    out = quantize(module, q, codebook, nearest_codes(q, codebook))
    return out.reshape(*ids.shape, spec.dim)
