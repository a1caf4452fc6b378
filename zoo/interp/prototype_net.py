"""Prototype network (Li, Liu, Chen, Rudin, AAAI 2018, "Deep Learning for
Case-Based Reasoning through Prototypes: A Neural Network that Explains Its
Predictions"; OscarcarLi/PrototypeDL, no license seen: read, not copied).

A convolutional autoencoder whose latent codes are classified by their
squared distances to m learned prototypes, vectors of the latent space
that the decoder turns into images: the explanation of a prediction is its
nearest prototypes, seen as pictures, and the weights W that map them to
classes.

  encoder:  x [B, H, W] -> 3x3 convs, stride 2, SAME, ReLU -> z [B, d]
  decoder:  z -> mirrored 3x3 transposed convs, stride 2, ReLU; sigmoid out
  distances D_ij = |z_i - p_j|^2                                  [B, m]
  logits    = D W, W [m, C], softmax
  loss      = 20 CE + mean_i |x^_i - x_i|^2 + R1 + R2
  R1        = mean_j min_i D_ij   (every prototype is near some input)
  R2        = mean_i min_j D_ij   (every input is near some prototype)

Both minimums are `ops.vq_nearest` (k = 1, squared L2) in the two
directions, prototypes as queries against the batch's codes for R1 and the
reverse for R2; its VJP sends each minimum's gradient to the pair that
attains it only, as the paper's `reduce_min` does. As in the official code,
prototypes and W start uniform on [0, 1], conv kernels N(0, 0.01^2) and
biases 0, and the reconstruction term sums squared errors over pixels.

Toy scale on scikit-learn's 8x8 `digits` (a real data set standing in for
MNIST): two stride-2 convs (32 and 10 maps) give a 2x2x10 = 40-d latent,
m = 15 prototypes. Ours [recon]: elastic deformation of each training
image with sigma 1, alpha 2 (the paper's sigma 4, alpha 20 are for 28x28
MNIST; `train.data.elastic`); steps and batch in
train/configs/prototype_net.py.

Claims (eval/claims/prototype_net.py, measured 2026-12-06): test accuracy
98.1% (>= 95%, pass); the ablation R1 = R2 = 0 drops the prototypes'
k-NN agreement by 0.267 (>= 0.2, pass); but only 11 of 15 decoded
prototypes (0.733 < 0.80, FAIL) get from a pixel 5-NN the class of their
most negative W entry. Diagnosis: the prototypes decode to recognisable
digits (13 of 15 match the label of their nearest training code, all lie
within the median intra-class distance of a training code), but W,
free in sign and started positive, does not always put its most negative
weight on the prototype's own class: classes are also won by positive
weights on other prototypes' distances (details in the claim's module).
"""

import dataclasses

import flax.linen as nn
import jax
from jax import numpy as jnp

from ops import vq_nearest
from zoo import registry
from zoo.errors import ConfigError


@dataclasses.dataclass(frozen=True)
class PrototypeNetConfig:
  """Attributes:

    image_size: side of the square grey input.
    conv_widths: feature maps of the encoder's stride-2 convs; the last is
      the latent's maps (decoder: the same, mirrored).
    num_prototypes: m.
    num_classes: C.
    class_weight, recon_weight, r1_weight, r2_weight: the loss's lambdas.
    elastic_sigma, elastic_alpha: the training images' elastic deformation
      (Gaussian smoothing of the displacement field, its scale in pixels);
      alpha 0 turns it off. Read by the train task only.
  """

  image_size: int = 8
  conv_widths: tuple[int, ...] = (32, 10)
  num_prototypes: int = 15
  num_classes: int = 10
  class_weight: float = 20.0
  recon_weight: float = 1.0
  r1_weight: float = 1.0
  r2_weight: float = 1.0
  elastic_sigma: float = 1.0
  elastic_alpha: float = 2.0

  def __post_init__(self):
    stride = 2**len(self.conv_widths)
    if not self.conv_widths or min(self.conv_widths) < 1:
      raise ConfigError("prototype_net: conv_widths must be one or more "
                        f"positive widths, got {self.conv_widths}")
    if self.image_size < 1 or self.image_size % stride:
      raise ConfigError(f"prototype_net: image_size {self.image_size} must "
                        f"be a positive multiple of the encoder's stride "
                        f"{stride}")
    for name in ("num_prototypes", "num_classes"):
      if getattr(self, name) < 1:
        raise ConfigError(f"prototype_net: {name} must be >= 1, got "
                          f"{getattr(self, name)}")
    for name in ("class_weight", "recon_weight", "r1_weight", "r2_weight",
                 "elastic_alpha"):
      if not getattr(self, name) >= 0:
        raise ConfigError(f"prototype_net: {name} must be >= 0, got "
                          f"{getattr(self, name)}")
    if not self.elastic_sigma > 0:
      raise ConfigError("prototype_net: elastic_sigma must be > 0, got "
                        f"{self.elastic_sigma}")

  @property
  def latent_shape(self) -> tuple[int, int, int]:
    """The encoder's last map, (side, side, maps)."""
    side = self.image_size // 2**len(self.conv_widths)
    return (side, side, self.conv_widths[-1])

  @property
  def latent_dim(self) -> int:
    side, _, maps = self.latent_shape
    return side * side * maps


def squared_distances(latent: jax.Array, prototypes: jax.Array) -> jax.Array:
  """D_ij = |z_i - p_j|^2 for latent [B, d], prototypes [m, d] -> [B, m]."""
  sq = (jnp.sum(latent**2, -1)[:, None] - 2.0 * latent @ prototypes.T
        + jnp.sum(prototypes**2, -1)[None])
  return jnp.maximum(sq, 0.0)  # rounding must not make a distance negative


def nearest_distances(latent: jax.Array, prototypes: jax.Array
                      ) -> tuple[jax.Array, jax.Array]:
  """Both minimums of D, through `ops.vq_nearest`.

  Args:
    latent: [B, d] encoded inputs.
    prototypes: [m, d].

  Returns:
    (min_i D_ij [m]: each prototype to its nearest input, the R1 terms;
     min_j D_ij [B]: each input to its nearest prototype, the R2 terms).
  """
  _, to_input = vq_nearest(prototypes, latent)
  _, to_prototype = vq_nearest(latent, prototypes)
  return to_input[:, 0], to_prototype[:, 0]


def prototype_classes(last_layer: jax.Array) -> jax.Array:
  """Each prototype's class: its most negative weight, W [m, C] -> [m].

  A small distance to p_j must raise the logit of p_j's class, and logits
  are D W: the class whose weight is most negative loses most as the
  input moves away from p_j.
  """
  return jnp.argmin(last_layer, axis=-1)


class PrototypeNet(nn.Module):
  """Images [B, H, W] in [0, 1] -> {"latent" [B, d], "recon" [B, H, W],
  "distances" [B, m], "logits" [B, C]}."""

  cfg: PrototypeNetConfig

  def setup(self):
    cfg = self.cfg
    conv = dict(kernel_size=(3, 3), strides=(2, 2), padding="SAME",
                kernel_init=nn.initializers.normal(0.01))
    self.encoder = [nn.Conv(w, **conv, name=f"encoder_{i}")
                    for i, w in enumerate(cfg.conv_widths)]
    # Mirrored: each transposed conv restores the input width of its conv.
    widths = (1,) + tuple(cfg.conv_widths[:-1])
    self.decoder = [nn.ConvTranspose(w, **conv, name=f"decoder_{i}")
                    for i, w in reversed(list(enumerate(widths)))]
    uniform = nn.initializers.uniform(1.0)
    self.prototypes = self.param("prototypes", uniform,
                                 (cfg.num_prototypes, cfg.latent_dim))
    self.last_layer = self.param("last_layer", uniform,
                                 (cfg.num_prototypes, cfg.num_classes))

  def encode(self, images: jax.Array) -> jax.Array:
    """[B, H, W] -> latent [B, d]."""
    side = self.cfg.image_size
    if images.ndim != 3 or images.shape[1:] != (side, side):
      raise ValueError(f"prototype_net: images must be [B, {side}, {side}], "
                       f"got shape {images.shape}")
    x = images[..., None]
    for conv in self.encoder:
      x = nn.relu(conv(x))
    return x.reshape(x.shape[0], -1)

  def decode(self, latent: jax.Array) -> jax.Array:
    """Latent [B, d] -> images [B, H, W] in (0, 1)."""
    if latent.ndim != 2 or latent.shape[1] != self.cfg.latent_dim:
      raise ValueError(f"prototype_net: latent must be [B, "
                       f"{self.cfg.latent_dim}], got shape {latent.shape}")
    x = latent.reshape(latent.shape[0], *self.cfg.latent_shape)
    for i, deconv in enumerate(self.decoder):
      x = deconv(x)
      x = nn.sigmoid(x) if i == len(self.decoder) - 1 else nn.relu(x)
    return x[..., 0]

  def decoded_prototypes(self) -> jax.Array:
    """The prototypes as images, [m, H, W]."""
    return self.decode(self.prototypes)

  def __call__(self, images: jax.Array) -> dict[str, jax.Array]:
    latent = self.encode(images)
    distances = squared_distances(latent, self.prototypes)
    return {"latent": latent, "recon": self.decode(latent),
            "distances": distances, "logits": distances @ self.last_layer}


SYSTEM = registry.System(
    name="prototype_net",
    family="interp",
    paper="Deep Learning for Case-Based Reasoning through Prototypes: A "
          "Neural Network that Explains Its Predictions (Li et al., AAAI "
          "2018)",
    summary="autoencoder classifying by distances to 15 decodable "
            "prototypes (digits 8x8)",
    default_config=PrototypeNetConfig,
    builder=PrototypeNet,
    configs=("train.configs.prototype_net:get_config",),
    task="train.tasks.prototype_classification:TASK",
    evaluators=("train.evaluators.prototype_net:evaluate",),
    claim="eval.claims.prototype_net:check",
    datasets=("train.data.builders.digits:Digits",),
)
