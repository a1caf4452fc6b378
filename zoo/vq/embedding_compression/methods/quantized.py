"""INT8/16 tables: symmetric fixed-scale quantization (the artifact's
`scale` 0.01, `middle` 0).

Trained quantization-aware (ours: a float32 master table, rounded to the
grid in every lookup, straight-through inside the range, zero gradient
outside); the stored table is the integers, bits / 8 bytes per entry.
"""

import dataclasses

from jax import numpy as jnp

from zoo.vq.embedding_compression.methods import (
    CompressionConfig,
    round_ste,
    table,
)


def integer_range(bits: int) -> tuple[int, int]:
  return -(2 ** (bits - 1)), 2 ** (bits - 1) - 1


def fake_quantize(v, scale, bits: int):
  """scale * clip(round(v / scale)) with straight-through rounding; the
  gradient to `scale` is LSQ's (round(v/s) - v/s inside, the bound
  outside)."""
  low, high = integer_range(bits)
  return scale * jnp.clip(round_ste(v / scale), low, high)


@dataclasses.dataclass(frozen=True)
class QuantizedTable(CompressionConfig):
  """Attributes:

    bits: 8 or 16.
    scale: the fixed quantization step.
  """

  kind = "int"
  bits: int = 8
  scale: float = 0.01

  def __post_init__(self):
    super().__post_init__()
    if self.bits not in (8, 16):
      raise ValueError(f"{self.kind}: bits must be 8 or 16, got {self.bits}")

  def stored(self, spec) -> int:
    return spec.num_ids * spec.dim * self.bits // 8

  def param_bytes(self, spec):
    if not self.fits(spec, self.stored(spec)):
      raise self.unreachable(spec, self.stored(spec))
    return self.stored(spec)

  def embed(self, module, ids, spec):
    self.param_bytes(spec)
    rows = table(module, "table", (spec.num_ids, spec.dim))
    return fake_quantize(jnp.take(rows, ids, axis=0), self.scale, self.bits)
