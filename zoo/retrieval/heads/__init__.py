"""ColBERT projection heads, one module per kind.

A head maps each encoder token state [..., input_dim] to a vector
[..., out_dim] before L2 normalisation (`zoo.retrieval.colbert.ColBERTHead`
normalises). Kinds: `linear` (ColBERT's bias-free projection), `ffn` and
`glu` (`mlp`). A new head is a new module here: a frozen dataclass
subclassing `HeadConfig` with a `kind` tag and its `project`.

Layers are created on the head module passed in, so parameter paths do not
depend on the plug-in layout.
"""

import abc
import dataclasses

import flax.linen as nn
import jax

from zoo.plugins import Plugin


@dataclasses.dataclass(frozen=True)
class HeadConfig(Plugin, abc.ABC):
  """Base of the head kinds.

  Attributes:
    out_dim: width of each output token vector.
  """

  package = "zoo.retrieval.heads"
  out_dim: int = 128

  def __post_init__(self):
    if self.out_dim < 1:
      raise ValueError(f"head.out_dim must be >= 1, got {self.out_dim}")

  @abc.abstractmethod
  def project(self, x: jax.Array, input_dim: int) -> jax.Array:
    """Token states [..., input_dim] -> [..., out_dim], unnormalised; called
    inside the head module's compact `__call__`."""


def dense(features: int, axes: tuple[str | None, str | None], name: str, *,
          bias: bool = True, zero: bool = False) -> nn.Dense:
  """A Dense layer with logical axes; `zero` starts its kernel at 0."""
  kernel = (nn.initializers.zeros_init() if zero else
            nn.initializers.lecun_normal())
  return nn.Dense(
      features, use_bias=bias, name=name,
      kernel_init=nn.with_logical_partitioning(kernel, axes),
      bias_init=nn.with_logical_partitioning(nn.initializers.zeros_init(),
                                             axes[1:]))
