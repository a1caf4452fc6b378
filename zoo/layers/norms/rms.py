"""RMSNorm (Zhang and Sennrich): x / rms(x) * scale."""

import dataclasses

import flax.linen as nn

from zoo.layers.norms import NormConfig


@dataclasses.dataclass(frozen=True)
class RMSNorm(NormConfig):
  kind = "rms"
  params = ("scale",)

  def make(self, dtype, name=None):
    return nn.RMSNorm(epsilon=self.eps, dtype=dtype, name=name)
