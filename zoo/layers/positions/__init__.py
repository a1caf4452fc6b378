"""Position kinds of `zoo.lm.decoder.DecoderLM`, one module each.

A kind says how token positions reach the model: rotary embeddings of the
queries and keys with some frequency schedule (`rope`, the zoo's own and
Llama's; `rope_linear`, positions interpolated by a factor; `rope_llama3`,
Llama 3.1's per-frequency scaling), or a learned table added to the input
embeddings (`learned`, GPT-2's). A new schedule is a new module here: a
frozen dataclass subclassing `PositionConfig` with a `kind` tag.
"""

import dataclasses
from typing import ClassVar

import jax

from zoo.plugins import Plugin


@dataclasses.dataclass(frozen=True)
class PositionConfig(Plugin):
  """Base of the position kinds: no rotation and no table.

  Attributes:
    rotary: `rotate` rotates (class attribute); rotated heads need an even
      width.
  """

  package = "zoo.layers.positions"
  rotary: ClassVar[bool] = False

  def rotate(self, x: jax.Array, positions: jax.Array, base: float
             ) -> jax.Array:
    """Queries or keys x [B, T, H, D] at positions [B, T], rotated by the
    kind's schedule; unchanged here. `base` is the decoder's `rope_base`."""
    del positions, base
    return x

  @property
  def table_size(self) -> int:
    """Rows of a learned position table added to the inputs; 0 for none.
    Positions at or past it cannot be encoded."""
    return 0
