"""No positional signal at all (NoPE): neither rotation nor table. Order
reaches such a model only through causal masks and recurrent layers, as in
SambaY."""

import dataclasses

from zoo.layers.positions import PositionConfig


@dataclasses.dataclass(frozen=True)
class NoPositions(PositionConfig):
  kind = "none"
