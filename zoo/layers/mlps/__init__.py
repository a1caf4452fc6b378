"""Feed-forward kinds of the transformer blocks, one module each.

`gated` (`down(act(gate(x)) * up(x))`, SwiGLU with silu: the zoo's own,
Llama's, Qwen2's) and `plain` (`down(act(up(x)))`, GPT-2's GELU MLP). The
block builds the projections; a kind combines them into the hidden
activations. A new kind is a new module here: a frozen dataclass
subclassing `MLPConfig` with a `kind` tag.
"""

import abc
import dataclasses
import functools
from collections.abc import Callable
from typing import ClassVar

import flax.linen as nn
import jax

from zoo.errors import ConfigError
from zoo.plugins import Plugin

# Activation names -> functions ("gelu" is the exact, erf one).
ACTIVATIONS = {
    "silu": nn.silu,
    "gelu": functools.partial(nn.gelu, approximate=False),
    "gelu_tanh": functools.partial(nn.gelu, approximate=True),
    "relu": nn.relu,
}


@dataclasses.dataclass(frozen=True)
class MLPConfig(Plugin, abc.ABC):
  """Base of the feed-forward kinds.

  Attributes:
    activation: a key of `ACTIVATIONS`.
    bias: biases on every projection.
    inputs: names of the projections of the block's input (class attr).
  """

  package = "zoo.layers.mlps"
  inputs: ClassVar[tuple[str, ...]] = ()
  activation: str = "silu"
  bias: bool = False

  def __post_init__(self):
    if self.activation not in ACTIVATIONS:
      raise ConfigError(f"{self.kind} MLP: activation must be one of "
                        f"{', '.join(ACTIVATIONS)}, got {self.activation!r}")

  @abc.abstractmethod
  def hidden(self, project: Callable[[str], jax.Array]) -> jax.Array:
    """[..., mlp_dim] hidden activations, from `project(name)`: the input
    projected by the projection `name` (one of `inputs`)."""

  def act(self, x: jax.Array) -> jax.Array:
    return ACTIVATIONS[self.activation](x)
