"""Rotary embeddings with positions interpolated by a factor (Chen et al.,
"position interpolation"; Hugging Face's "linear" rope type)."""

import dataclasses

from zoo.errors import ConfigError
from zoo.layers.positions.rope import Rope
from zoo.layers.rope import rope_frequencies


@dataclasses.dataclass(frozen=True)
class LinearRope(Rope):
  """Attributes:

    factor: positions are divided by it (every frequency is).
  """

  kind = "rope_linear"
  factor: float = 1.0

  def __post_init__(self):
    if self.factor <= 0:
      raise ConfigError(f"rope_linear: factor must be > 0, got {self.factor}")

  def frequencies(self, head_dim, base):
    return rope_frequencies(head_dim, base) / self.factor
