"""A small MLP autoencoder with a vector-quantized bottleneck.

The encoder maps an input vector to `num_tokens` latent tokens of width
`token_dim`; each token is quantized independently; the decoder maps the
quantized tokens back to the input. With a learned or EMA codebook this is
the classic VQ-VAE (the `vqvae` system, recorded here); with SimVQ's
codebook (`zoo.vq.codebooks.simvq`) SimVQ's toy setting.
"""

import dataclasses
from typing import Literal

import flax.linen as nn
import jax
from jax import numpy as jnp

from zoo import registry, sharding
from zoo.vq.quantizer import QuantizerConfig, VectorQuantizer


@dataclasses.dataclass(frozen=True)
class VQAutoencoderConfig:
  """Attributes:

    input_dim, hidden_dim: widths of the MLP.
    num_tokens, token_dim: the latent is num_tokens vectors of token_dim.
    quantizer: the bottleneck.
    init: "torch" draws weights and biases from U(-1/sqrt(fan_in),
      1/sqrt(fan_in)) like PyTorch's nn.Linear (the setting SimVQ's claim
      was calibrated in); "lecun" is Flax's default (normal weights, zero
      biases). The scale of the encoder's first outputs decides how many
      codes a plain VQ-VAE ever reaches, so it matters for the baseline.
  """

  input_dim: int = 64
  hidden_dim: int = 128
  num_tokens: int = 4
  token_dim: int = 16
  quantizer: QuantizerConfig = QuantizerConfig()
  init: Literal["torch", "lecun"] = "torch"


def _dense(features: int, fan_in: int, axes: tuple[str, str], name: str,
           init: str) -> nn.Dense:
  if init == "torch":
    bound = fan_in**-0.5
    kernel = nn.initializers.variance_scaling(1 / 3, "fan_in", "uniform")
    bias = lambda key, shape, dtype=jnp.float32: jax.random.uniform(
        key, shape, dtype, -bound, bound)
  else:
    kernel, bias = nn.initializers.lecun_normal(), nn.initializers.zeros_init()
  return nn.Dense(
      features, name=name,
      kernel_init=nn.with_logical_partitioning(kernel, axes),
      bias_init=nn.with_logical_partitioning(bias, axes[1:]))


class VQAutoencoder(nn.Module):
  """x [batch, input_dim] -> (reconstruction, indices [batch, tokens], aux)."""

  cfg: VQAutoencoderConfig

  def setup(self):
    cfg = self.cfg
    latent = cfg.num_tokens * cfg.token_dim
    up, down = (sharding.EMBED, sharding.MLP), (sharding.MLP, sharding.EMBED)
    self.enc_hidden = _dense(cfg.hidden_dim, cfg.input_dim, up, "enc_hidden",
                             cfg.init)
    self.enc_out = _dense(latent, cfg.hidden_dim, down, "enc_out", cfg.init)
    self.quantizer = VectorQuantizer(cfg.quantizer, dim=cfg.token_dim)
    self.dec_hidden = _dense(cfg.hidden_dim, latent, up, "dec_hidden",
                             cfg.init)
    self.dec_out = _dense(cfg.input_dim, cfg.hidden_dim, down, "dec_out",
                          cfg.init)

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


SYSTEM = registry.System(
    name="vqvae",
    family="vq",
    paper="Neural Discrete Representation Learning (VQ-VAE)",
    summary="Classic VQ-VAE baseline: learned or EMA codebook, k-means init, "
            "dead-code restarts, rotation trick.",
    default_config=VQAutoencoderConfig,
    builder=build,
    configs=("train.configs.vqvae:get_config",),
    task="train.tasks.vq_autoencoder:TASK",
    evaluators=("train.evaluators.vq_reconstruction:evaluate",),
    datasets=("train.data.builders.digits:Digits",),
)
