"""A small MLP autoencoder with a vector-quantized bottleneck.

The encoder maps an input vector to `num_tokens` latent tokens of width
`token_dim`; each token is quantized independently; the decoder maps the
quantized tokens back to the input. With `QuantizerConfig(codebook="simvq")`
this is SimVQ's toy setting; with "learned" or "ema" a classic VQ-VAE.
"""

import dataclasses

import flax.linen as nn
import jax
from jax import numpy as jnp

from zoo import sharding
from zoo.vq.quantizer import QuantizerConfig, VectorQuantizer


@dataclasses.dataclass(frozen=True)
class VQAutoencoderConfig:
  input_dim: int = 64
  hidden_dim: int = 128
  num_tokens: int = 4
  token_dim: int = 16
  quantizer: QuantizerConfig = QuantizerConfig()


def _dense(features: int, axes: tuple[str, str], name: str) -> nn.Dense:
  return nn.Dense(
      features, name=name,
      kernel_init=nn.with_logical_partitioning(
          nn.initializers.lecun_normal(), axes),
      bias_init=nn.with_logical_partitioning(
          nn.initializers.zeros_init(), axes[1:]))


class VQAutoencoder(nn.Module):
  """x [batch, input_dim] -> (reconstruction, indices [batch, tokens], aux)."""

  cfg: VQAutoencoderConfig

  def setup(self):
    cfg = self.cfg
    latent = cfg.num_tokens * cfg.token_dim
    self.enc_hidden = _dense(cfg.hidden_dim, (sharding.EMBED, sharding.MLP),
                             "enc_hidden")
    self.enc_out = _dense(latent, (sharding.MLP, sharding.EMBED), "enc_out")
    self.quantizer = VectorQuantizer(cfg.quantizer, dim=cfg.token_dim)
    self.dec_hidden = _dense(cfg.hidden_dim, (sharding.EMBED, sharding.MLP),
                             "dec_hidden")
    self.dec_out = _dense(cfg.input_dim, (sharding.MLP, sharding.EMBED),
                          "dec_out")

  def encode(self, x: jax.Array) -> jax.Array:
    """[batch, input_dim] -> latent tokens [batch, tokens, token_dim]."""
    x = nn.with_logical_constraint(x, (sharding.BATCH, sharding.EMBED))
    h = nn.relu(self.enc_hidden(x))
    z = self.enc_out(h)
    return z.reshape(x.shape[0], self.cfg.num_tokens, self.cfg.token_dim)

  def decode(self, q: jax.Array) -> jax.Array:
    """Quantized tokens [batch, tokens, token_dim] -> [batch, input_dim]."""
    h = nn.relu(self.dec_hidden(q.reshape(q.shape[0], -1)))
    return self.dec_out(h)

  def decode_indices(self, indices: jax.Array) -> jax.Array:
    """Code indices [batch, tokens] -> reconstruction [batch, input_dim].

    Looks codes up in the effective codebook (for SimVQ, after the linear
    map), so it equals the forward pass's reconstruction.
    """
    return self.decode(self.quantizer.lookup(indices))

  def __call__(self, x: jax.Array, *, train: bool = False):
    z = self.encode(x)
    q, indices, aux = self.quantizer(z, train=train)
    return self.decode(q), indices, aux


def build(cfg: VQAutoencoderConfig) -> VQAutoencoder:
  return VQAutoencoder(cfg)
