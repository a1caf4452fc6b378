"""`CompressedEmbedding`: ids [batch, fields] -> [batch, fields, d], any
compression method, with its stored bytes and ratio."""

import flax.linen as nn
import jax
import numpy as np
from jax import numpy as jnp

from zoo.vq.embedding_compression.methods import CompressionConfig, TableSpec


class CompressedEmbedding(nn.Module):
  """One table over all fields, compressed by `method`.

  Attributes:
    method: the compression kind and its budget.
    num_fields: F.
    ids_per_field: ids of each field, 0 .. ids_per_field - 1.
    dim: d.
  """

  method: CompressionConfig
  num_fields: int
  ids_per_field: int
  dim: int

  @property
  def spec(self) -> TableSpec:
    return TableSpec(self.num_fields, self.ids_per_field, self.dim)

  def param_bytes(self) -> int:
    """Bytes the trained table stores at inference."""
    return self.method.param_bytes(self.spec)

  def ratio(self) -> float:
    """r = full float32 bytes / param_bytes."""
    return self.spec.full_bytes / self.param_bytes()

  def _check(self, ids):
    if ids.ndim != 2 or ids.shape[1] != self.num_fields or not jnp.issubdtype(
        ids.dtype, jnp.integer):
      raise ValueError(f"{self.method.kind} embedding: ids must be integer "
                       f"[batch, {self.num_fields}], got {ids.dtype} "
                       f"{ids.shape}")
    if not isinstance(ids, jax.core.Tracer):
      values = np.asarray(ids)
      if values.size and (values.min() < 0
                          or values.max() >= self.ids_per_field):
        raise ValueError(f"{self.method.kind} embedding: ids must be in [0, "
                         f"{self.ids_per_field}), got values in "
                         f"[{values.min()}, {values.max()}]")

  @nn.compact
  def __call__(self, ids: jax.Array) -> jax.Array:
    """ids [batch, fields] -> [batch, fields, d] float32."""
    self._check(ids)
    offsets = jnp.arange(self.num_fields, dtype=jnp.int32) * self.ids_per_field
    return self.method.embed(self, ids.astype(jnp.int32) + offsets, self.spec)


def bag_sums(vectors: jax.Array, segment_ids: jax.Array, num_bags: int
             ) -> jax.Array:
  """Embedding bags: vectors [T, d] summed by bag, segment_ids [T] -> [B, d].

  A multi-valued field is looked up as one flat list of ids and pooled
  with `jax.ops.segment_sum` (EmbeddingBag's mode="sum").
  """
  if segment_ids.shape != vectors.shape[:1]:
    raise ValueError(f"bag_sums: segment_ids must be [{vectors.shape[0]}], "
                     f"got {segment_ids.shape}")
  return jax.ops.segment_sum(vectors, segment_ids, num_segments=num_bags)
