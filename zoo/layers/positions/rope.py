"""Rotary embeddings with the RoFormer schedule `base ** (-2i / D)`."""

import dataclasses

import jax

from zoo.layers.positions import PositionConfig
from zoo.layers.rope import apply_rope, rope_frequencies


@dataclasses.dataclass(frozen=True)
class Rope(PositionConfig):
  """The zoo's default, and Llama's and Qwen2's "default" rope type."""

  kind = "rope"
  rotary = True

  def frequencies(self, head_dim: int, base: float) -> jax.Array:
    """[head_dim / 2] f32 angular frequencies of the schedule."""
    return rope_frequencies(head_dim, base)

  def rotate(self, x, positions, base):
    return apply_rope(x, positions,
                      frequencies=self.frequencies(x.shape[-1], base))
