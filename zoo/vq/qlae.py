"""QLAE (Hsu et al., 2023): disentanglement via latent quantization.

Each of the n_z latents is snapped to the nearest value of its own learned
scalar codebook of n_v values (initialised linspace(-0.5, 0.5)); the decoder
sees the snapped latents through the straight-through estimator. Loss:
reconstruction BCE + 0.01 |sg(z) - q|^2 (the quantization loss: moves the
values) + 0.01 |z - sg(q)|^2 (the commitment loss: moves the encoder); the
paper's high weight decay (AdamW 0.1) applies to the encoder and decoder
weights only (`decayed_params` names them), not to biases or values.

`LatentQuantizer` is the bottleneck, usable in any model; `QLAE` is the
small conv autoencoder of the sprites toy around it, and with
`quantize=False` the plain autoencoder baseline (same net, no bottleneck).
The InfoM/InfoC/InfoE metrics are `zoo.vq.infomec`.

Ours: the encoder is three 4x4 stride-2 convolutions (leaky ReLU, no
instance norm) and a dense layer; the decoder mirrors it with sub-pixel
convolutions (a 3x3 convolution to 4x the channels, then depth-to-space),
which XLA runs on CPU several times faster than transposed convolutions
(the paper: a deeper encoder and a StyleGAN-like decoder).
"""

import dataclasses

import flax.linen as nn
import jax
from jax import numpy as jnp

import ops
from zoo import registry, sharding


@dataclasses.dataclass(frozen=True)
class QLAEConfig:
  """Attributes:

    image_size: input images are [image_size, image_size] in [0, 1].
    num_latents: n_z (the paper: twice the number of sources).
    num_values: n_v, values per latent's codebook.
    quantize: False gives the plain autoencoder baseline.
    widths: channels of the encoder's stride-2 convolutions.
    hidden: width of the dense layer on each side of the latents.
    quantization_weight: weight of |sg(z) - q|^2 (moves the values).
    commitment_weight: weight of |z - sg(q)|^2 (moves the encoder).
  """

  image_size: int = 32
  num_latents: int = 8
  num_values: int = 10
  quantize: bool = True
  widths: tuple[int, ...] = (16, 32, 32)
  hidden: int = 128
  quantization_weight: float = 0.01
  commitment_weight: float = 0.01

  def __post_init__(self):
    for name in ("image_size", "num_latents", "num_values", "hidden"):
      if getattr(self, name) < 1:
        raise ValueError(f"QLAEConfig: {name} must be >= 1, got "
                         f"{getattr(self, name)}")
    if not self.widths or self.image_size % 2 ** len(self.widths):
      raise ValueError(f"QLAEConfig: image_size {self.image_size} must be "
                       f"divisible by 2^{len(self.widths)} (one halving per "
                       f"width in {self.widths})")


class LatentQuantizer(nn.Module):
  """Per-latent scalar codebooks: z [..., n_z] -> nearest values.

  Returns (z_hat, indices, aux): z_hat has z's shape, the nearest values in
  the forward pass and the identity's gradient to z; indices int32
  [..., n_z]; aux holds "loss" (weighted sum), "quantization" and
  "commitment" (unweighted mean squares).
  """

  num_latents: int
  num_values: int
  quantization_weight: float = 0.01
  commitment_weight: float = 0.01

  @nn.compact
  def __call__(self, z: jax.Array):
    if z.ndim < 1 or z.shape[-1] != self.num_latents or z.size == 0:
      raise ValueError(f"LatentQuantizer: z must be [..., {self.num_latents}]"
                       f" (num_latents) with at least one row, got shape "
                       f"{z.shape}")
    values = self.param(
        "values", nn.with_logical_partitioning(
            lambda key, shape: jnp.broadcast_to(
                jnp.linspace(-0.5, 0.5, shape[1]), shape),
            (sharding.CODES, None)),
        (self.num_latents, self.num_values))  # [n_z, n_v]
    # n_z groups of 1-d codes: [..., n_z, 1] against [n_z, n_v, 1].
    indices = ops.vq_nearest(
        z[..., None].astype(jnp.float32),
        jax.lax.stop_gradient(values)[..., None])[0][..., 0]
    q = jnp.take_along_axis(
        jnp.broadcast_to(values, z.shape[:-1] + values.shape),
        indices[..., None], axis=-1)[..., 0]  # [..., n_z]
    quantization = jnp.mean((jax.lax.stop_gradient(z) - q) ** 2)
    commitment = jnp.mean((z - jax.lax.stop_gradient(q)) ** 2)
    aux = {
        "loss": (self.quantization_weight * quantization
                 + self.commitment_weight * commitment),
        "quantization": quantization,
        "commitment": commitment,
    }
    return ops.straight_through(z, q), indices, aux


def _conv(features: int, kernel: int, stride: int, name: str) -> nn.Conv:
  return nn.Conv(features, (kernel, kernel), (stride, stride),
                 padding="SAME", name=name,
                 kernel_init=nn.with_logical_partitioning(
                     nn.initializers.lecun_normal(),
                     (None, None, None, sharding.MLP)))


def depth_to_space(x: jax.Array) -> jax.Array:
  """[B, H, W, 4C] -> [B, 2H, 2W, C]: each pixel's channels become a 2x2
  block."""
  b, h, w, c = x.shape
  x = x.reshape(b, h, w, 2, 2, c // 4).transpose(0, 1, 3, 2, 4, 5)
  return x.reshape(b, 2 * h, 2 * w, c // 4)


def _dense(features: int, axes: tuple[str | None, str | None], name: str):
  return nn.Dense(features, name=name,
                  kernel_init=nn.with_logical_partitioning(
                      nn.initializers.lecun_normal(), axes))


class QLAE(nn.Module):
  """images [B, H, W] -> (logits [B, H, W], latents [B, n_z], aux).

  Latents are the quantizer's indices (int32) when `cfg.quantize`, else the
  encoder's continuous outputs; aux["loss"] is the bottleneck's loss (0 for
  the plain autoencoder).
  """

  cfg: QLAEConfig

  def setup(self):
    cfg = self.cfg
    self.enc_convs = [_conv(w, 4, 2, f"enc_conv_{i}")
                      for i, w in enumerate(cfg.widths)]
    self.enc_hidden = _dense(cfg.hidden, (None, sharding.MLP), "enc_hidden")
    self.enc_out = _dense(cfg.num_latents, (sharding.MLP, None), "enc_out")
    if cfg.quantize:
      self.quantizer = LatentQuantizer(
          cfg.num_latents, cfg.num_values, cfg.quantization_weight,
          cfg.commitment_weight)
    side = cfg.image_size // 2 ** len(cfg.widths)
    self._grid = (side, side, cfg.widths[-1])
    self.dec_hidden = _dense(cfg.hidden, (None, sharding.MLP), "dec_hidden")
    self.dec_grid = _dense(side * side * cfg.widths[-1], (sharding.MLP, None),
                           "dec_grid")
    # Back up, one doubling per encoder halving: widths reversed, then 1.
    ups = [*reversed(cfg.widths[:-1]), 1]
    self.dec_convs = [_conv(4 * w, 3, 1, f"dec_conv_{i}")
                      for i, w in enumerate(ups)]

  def encode(self, images: jax.Array) -> jax.Array:
    """[B, H, W] -> continuous latents z [B, n_z]."""
    size = self.cfg.image_size
    if images.ndim != 3 or images.shape[1:] != (size, size):
      raise ValueError(f"QLAE: images must be [batch, {size}, {size}], got "
                       f"shape {images.shape}")
    x = images[..., None]
    for conv in self.enc_convs:
      x = nn.leaky_relu(conv(x))
    x = nn.relu(self.enc_hidden(x.reshape(x.shape[0], -1)))
    return self.enc_out(x)

  def decode(self, z_hat: jax.Array) -> jax.Array:
    """Latents [B, n_z] -> logits [B, H, W]."""
    x = nn.relu(self.dec_hidden(z_hat))
    x = nn.relu(self.dec_grid(x)).reshape(z_hat.shape[0], *self._grid)
    for conv in self.dec_convs[:-1]:
      x = nn.leaky_relu(depth_to_space(conv(x)))
    return depth_to_space(self.dec_convs[-1](x))[..., 0]

  def __call__(self, images: jax.Array):
    z = self.encode(images)
    if not self.cfg.quantize:
      return self.decode(z), z, {"loss": jnp.zeros((), jnp.float32)}
    z_hat, indices, aux = self.quantizer(z)
    return self.decode(z_hat), indices, aux


def decayed_params(params) -> dict:
  """A pytree of bools like `params`: True for the encoder and decoder
  weights (kernels), which the paper's AdamW decays; False for biases and
  the quantizer's values."""
  flat = {path: any(getattr(k, "key", None) == "kernel" for k in path)
          for path, _ in jax.tree_util.tree_flatten_with_path(params)[0]}
  return jax.tree_util.tree_map_with_path(lambda p, _: flat[p], params)


def build(cfg: QLAEConfig) -> QLAE:
  return QLAE(cfg)


SYSTEM = registry.System(
    name="qlae",
    family="vq",
    paper="Disentanglement via Latent Quantization (QLAE)",
    summary="Per-latent learned scalar codebooks plus high weight decay "
            "give disentangled latents (InfoM/InfoC/InfoE).",
    default_config=QLAEConfig,
    builder=build,
    configs=("train.configs.qlae:get_config",),
    task="train.tasks.bce_autoencoder:TASK",
    evaluators=("train.evaluators.infomec:evaluate",),
    claim="eval.claims.qlae:check",
    datasets=("train.data.builders.sprites:Sprites",),
)
