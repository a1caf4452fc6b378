"""Llama 3.1's rotary schedule (Hugging Face's "llama3" rope type).

Frequencies whose wavelength is longer than `original_max_positions /
low_freq_factor` are divided by `factor`, those shorter than
`original_max_positions / high_freq_factor` are kept, and the ones between
are interpolated smoothly.
"""

import dataclasses
import math

from jax import numpy as jnp

from zoo.errors import ConfigError
from zoo.layers.positions.rope import Rope
from zoo.layers.rope import rope_frequencies


@dataclasses.dataclass(frozen=True)
class Llama3Rope(Rope):
  """Attributes:

    factor: the division of the low frequencies.
    low_freq_factor: wavelengths above `original_max_positions /
      low_freq_factor` are fully scaled.
    high_freq_factor: wavelengths below `original_max_positions /
      high_freq_factor` are kept.
    original_max_positions: the context length of pre-training.
  """

  kind = "rope_llama3"
  factor: float = 8.0
  low_freq_factor: float = 1.0
  high_freq_factor: float = 4.0
  original_max_positions: int = 8192

  def __post_init__(self):
    if self.factor <= 0 or self.high_freq_factor <= self.low_freq_factor:
      raise ConfigError(
          f"rope_llama3: needs factor > 0 and high_freq_factor > "
          f"low_freq_factor, got {self.factor}, {self.high_freq_factor}, "
          f"{self.low_freq_factor}")

  def frequencies(self, head_dim, base):
    freq = rope_frequencies(head_dim, base)
    wavelength = 2 * math.pi / freq
    context = self.original_max_positions
    smooth = (context / wavelength - self.low_freq_factor) / (
        self.high_freq_factor - self.low_freq_factor)
    smoothed = (1 - smooth) * freq / self.factor + smooth * freq
    low = wavelength > context / self.low_freq_factor
    high = wavelength < context / self.high_freq_factor
    return jnp.where(low, freq / self.factor,
                     jnp.where(high, freq, smoothed))
