"""A learned table of absolute positions added to the input embeddings
(GPT-2); queries and keys are not rotated."""

import dataclasses

from zoo.errors import ConfigError
from zoo.layers.positions import PositionConfig


@dataclasses.dataclass(frozen=True)
class LearnedPositions(PositionConfig):
  """Attributes:

    max_positions: rows of the table, the longest context.
  """

  kind = "learned"
  max_positions: int = 1024

  def __post_init__(self):
    if self.max_positions < 1:
      raise ConfigError(f"learned: max_positions must be >= 1, got "
                       f"{self.max_positions}")

  @property
  def table_size(self):
    return self.max_positions
