"""The ungated MLP, `down(act(up(x)))` (GPT-2's, with tanh GELU)."""

import dataclasses

from zoo.layers.mlps import MLPConfig


@dataclasses.dataclass(frozen=True)
class PlainMLP(MLPConfig):
  kind = "plain"
  inputs = ("up",)
  activation: str = "gelu_tanh"

  def hidden(self, project):
    return self.act(project("up"))
