"""LayerNorm with a scale and no bias (ModernBERT's and Ettin's)."""

import dataclasses

import flax.linen as nn

from zoo.layers.norms import NormConfig


@dataclasses.dataclass(frozen=True)
class BiaslessLayerNorm(NormConfig):
  kind = "layer_nobias"
  params = ("scale",)
  eps: float = 1e-5

  def make(self, dtype, name=None):
    # The two-pass variance, as PyTorch's LayerNorm computes it.
    return nn.LayerNorm(epsilon=self.eps, dtype=dtype, use_bias=False,
                        use_fast_variance=False, name=name)
