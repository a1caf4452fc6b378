"""LayerNorm with a scale and a bias (GPT-2's)."""

import dataclasses

import flax.linen as nn

from zoo.layers.norms import NormConfig


@dataclasses.dataclass(frozen=True)
class LayerNorm(NormConfig):
  kind = "layer"
  params = ("scale", "bias")
  eps: float = 1e-5

  def make(self, dtype, name=None):
    # The two-pass variance, as PyTorch's LayerNorm computes it.
    return nn.LayerNorm(epsilon=self.eps, dtype=dtype, use_fast_variance=False,
                        name=name)
