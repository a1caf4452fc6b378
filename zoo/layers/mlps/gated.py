"""The gated MLP, `down(act(gate(x)) * up(x))` (SwiGLU with silu)."""

import dataclasses

from zoo.layers.mlps import MLPConfig


@dataclasses.dataclass(frozen=True)
class GatedMLP(MLPConfig):
  kind = "gated"
  inputs = ("gate", "up")

  def hidden(self, project):
    return self.act(project("gate")) * project("up")
