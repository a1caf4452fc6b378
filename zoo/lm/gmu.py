"""The gated memory unit of SambaY (Ren et al., 2025, "Decoder-Hybrid-
Decoder Architecture for Efficient Reasoning with Long Generation"):

    GMU(x, m) = W_out (silu(W_in x) * m)

x [B, T, E] the layer's (normed) input, m [B, T, Dm] the memory, a Mamba
layer's scan output before its z gate; no biases (ArchScale's code).
"""

import flax.linen as nn
from jax import numpy as jnp

from zoo import sharding
from zoo.layers.transformer import Projection


class GMU(nn.Module):
  dtype: jnp.dtype = jnp.float32

  @nn.compact
  def __call__(self, x, memory):
    gate = Projection((memory.shape[-1],), (sharding.EMBED, sharding.MLP),
                      dtype=self.dtype, name="in_proj")(x)
    return Projection((x.shape[-1],), (sharding.MLP, sharding.EMBED),
                      dtype=self.dtype, name="out_proj")(
                          nn.silu(gate) * memory.astype(gate.dtype))
