"""The paper's heads beyond one linear map, as PyLate builds them:

  ffn: y = W_o act(W_u x + b_u) + b_o
  glu: y = W_o (act(W_g x + b_g) * (W_u x + b_u)) + b_o

with an intermediate width of `expansion * input_dim` (upscaled when
expansion > 1) and, with `residual`, a skip path y += W_r x through a
bias-free linear map (the identity when input and output widths agree, as
PyLate's `use_residual`).
"""

import dataclasses
from typing import ClassVar, Literal

import flax.linen as nn
from jax import numpy as jnp

from zoo import sharding
from zoo.retrieval.heads import HeadConfig, dense

ACTIVATIONS = {
    "gelu": nn.gelu,
    "relu": nn.relu,
    "silu": nn.silu,
    "tanh": jnp.tanh,
    "identity": lambda x: x,
}


@dataclasses.dataclass(frozen=True)
class _MLPHead(HeadConfig):
  """Attributes:

    expansion: intermediate width as a multiple of the input width (2.0
      upscales 384 -> 768 -> out_dim).
    activation: one of `ACTIVATIONS`.
    residual: add a bias-free linear map of the input to the output.
    zero_init: start the last layer at zero, so that with `residual` the
      initial head is the linear head W_r x.
  """

  gated: ClassVar[bool] = False
  expansion: float = 1.0
  activation: Literal["gelu", "relu", "silu", "tanh", "identity"] = "gelu"
  residual: bool = False
  zero_init: bool = False

  def __post_init__(self):
    super().__post_init__()
    if self.activation not in ACTIVATIONS:
      raise ValueError(f"head.activation must be one of {list(ACTIVATIONS)}, "
                       f"got {self.activation!r}")
    if self.expansion <= 0:
      raise ValueError(f"head.expansion must be > 0, got {self.expansion}")

  def project(self, x, input_dim):
    width = max(1, round(self.expansion * input_dim))
    up = (sharding.EMBED, sharding.MLP)
    act = ACTIVATIONS[self.activation]
    h = dense(width, up, "up")(x)
    h = act(dense(width, up, "gate")(x)) * h if self.gated else act(h)
    y = dense(self.out_dim, (sharding.MLP, None), "down",
              zero=self.zero_init)(h)
    if self.residual:
      y = y + (x if input_dim == self.out_dim else
               dense(self.out_dim, (sharding.EMBED, None), "residual",
                     bias=False)(x))
    return y


@dataclasses.dataclass(frozen=True)
class FFNHead(_MLPHead):
  kind = "ffn"


@dataclasses.dataclass(frozen=True)
class GLUHead(_MLPHead):
  kind = "glu"
  gated = True
