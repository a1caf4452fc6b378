"""Deep Hash Embedding (Kang et al., 2021): no table, hashes into an MLP.

The id's k hashes (`ops.hash_ids` under seeds 0..k-1) into 10^6 buckets,
scaled to [-1, 1] (DHE's uniform encoding), go through an MLP with
`depth` hidden layers of width H and a linear output of width d. H is the
largest width up to `max_width` that fits the budget. Ours: ReLU without
batch norm (the paper uses Mish and batch norm).
"""

import dataclasses

import flax.linen as nn
from jax import numpy as jnp

from ops.hashing import hash_ids
from zoo import sharding
from zoo.vq.embedding_compression.methods import (
    FLOAT_BYTES,
    CompressionConfig,
    largest,
)


@dataclasses.dataclass(frozen=True)
class DHE(CompressionConfig):
  """Attributes:

    num_hashes: k, the encoding's width (1024 in the paper and artifact).
    num_buckets: buckets of each hash (10^6).
    depth: hidden layers.
    max_width: the widest hidden layer tried.
  """

  kind = "dhe"
  num_hashes: int = 1024
  num_buckets: int = 1_000_000
  depth: int = 2
  max_width: int = 512

  def floats(self, width: int, dim: int) -> int:
    hidden = self.num_hashes * width + width
    hidden += (self.depth - 1) * (width * width + width)
    return hidden + width * dim + dim

  def width(self, spec) -> int:
    width = largest(range(1, self.max_width + 1), lambda w: self.fits(
        spec, self.floats(w, spec.dim) * FLOAT_BYTES))
    if width is None:
      raise self.unreachable(spec, self.floats(1, spec.dim) * FLOAT_BYTES)
    return width

  def param_bytes(self, spec):
    return self.floats(self.width(spec), spec.dim) * FLOAT_BYTES

  def embed(self, module, ids, spec):
    width = self.width(spec)
    seeds = jnp.arange(self.num_hashes, dtype=jnp.uint32)
    buckets = hash_ids(ids[..., None], seeds, num_buckets=self.num_buckets)
    x = buckets.astype(jnp.float32) * (2.0 / (self.num_buckets - 1)) - 1.0
    axes = (sharding.EMBED, sharding.MLP)
    for layer in range(self.depth):
      x = nn.relu(nn.Dense(width, name=f"hidden{layer}", kernel_init=(
          nn.with_logical_partitioning(nn.initializers.lecun_normal(),
                                       axes)))(x))
    return nn.Dense(spec.dim, name="out")(x)
