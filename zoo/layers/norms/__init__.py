"""Normalization kinds of the transformer blocks, one module each.

`rms` (RMSNorm, a scale: the zoo's own, Llama's, Qwen2's) and `layer`
(LayerNorm, a scale and a bias: GPT-2's). A new kind is a new module here:
a frozen dataclass subclassing `NormConfig` with a `kind` tag.
"""

import abc
import dataclasses
from typing import ClassVar

import flax.linen as nn

from zoo.plugins import Plugin


@dataclasses.dataclass(frozen=True)
class NormConfig(Plugin, abc.ABC):
  """Base of the norm kinds.

  Attributes:
    eps: added to the variance.
    params: the param names the norm holds (class attribute).
  """

  package = "zoo.layers.norms"
  params: ClassVar[tuple[str, ...]] = ()
  eps: float = 1e-6

  @abc.abstractmethod
  def make(self, dtype, name: str | None = None) -> nn.Module:
    """The norm layer: [..., E] -> [..., E] in `dtype`, params f32."""
