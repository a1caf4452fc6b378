"""×Net ("timesNet") of "Is Pre-training Applicable to the Decoder for Dense
Prediction?" (Ning, Gan, Xuan and Yokoya, arXiv 2503.07637).

There is no official code; this follows the issue's spec and the paper's
summaries. A 4-stage CNN classifier (stride 2 per stage, widths 16, 32,
64, 128) is pre-trained to classify `shape_scenes` (`classify`). For dense
prediction the same family is both encoder and decoder: the decoder runs
the classifier's stages in reverse (deepest first), loaded as they are by
`zoo.layers.surgery`. Image [B, H, W, 3] ->
1. encoder stages 0..3: features at H/2, H/4, H/8, H/16;
2. decoder stage k = 3..0: Re-Shape (x4 bilinear upsampling and a 1x1 conv
   to the width stage k takes as input; its stride 2 then halves, so each
   stage doubles the resolution), plus input mixing alpha_k Conv3x3(image
   resized to that resolution) with alpha_k learnable from 0.5, then stage
   k (its output: widths[k] channels at H / 2^k);
3. Post Feature Pyramid: each decoder stage's output through a 1x1 conv to
   one channel, upsampled (bilinear) to H x W, summed; depth = softplus.
No encoder-decoder skips: the decoder sees only the deepest feature and
the image (through the mixing).

Ours [recon]: a stage is Conv3x3/2 - GroupNorm(8) - GELU - Conv3x3 -
GroupNorm, added to the first conv's output, GELU; the mixing conv is
3x3; one alpha per decoder stage; the classifier head is global average
pooling and a Dense over the 15 `shape_scenes` classes (multi-label
presence). `input_mixing=False` removes the mixing (alpha = 0).
"""

import dataclasses

import flax.linen as nn
import jax
import numpy as np
from jax import numpy as jnp

from zoo import registry
from zoo.layers import surgery


@dataclasses.dataclass(frozen=True)
class TimesNetConfig:
  """Attributes:

    widths: output channels of the backbone stages (each stride 2).
    in_channels: image channels.
    num_classes: classifier outputs (pre-training).
    groups: GroupNorm groups.
    reshape_scale: Re-Shape's upsampling factor (x4; with the stage's
      stride 2 a decoder stage doubles the resolution).
    input_mixing: add alpha Conv(resized image) to each decoder stage's
      input; False: alpha = 0, the decoder sees only encoder features.
    alpha_init: the mixing weights' initial value.
    pretrained: a classifier run's workdir (`train/configs/timesnet.py:
      stage=classify`) whose stages start the encoder; empty: random.
    decoder_init: "copy": the decoder's stages also start from the
      classifier's (needs `pretrained`); "random": they start random.
  """

  widths: tuple[int, ...] = (16, 32, 64, 128)
  in_channels: int = 3
  num_classes: int = 15
  groups: int = 8
  reshape_scale: int = 4
  input_mixing: bool = True
  alpha_init: float = 0.5
  pretrained: str = ""
  decoder_init: str = "copy"

  def __post_init__(self):
    if not self.widths or any(w % self.groups for w in self.widths):
      raise ValueError(f"timesnet: widths {self.widths} must be non-empty "
                       f"multiples of groups={self.groups}")
    if self.reshape_scale != 4:
      raise ValueError(f"timesnet: reshape_scale must be 4 (x4 up, stride "
                       f"2 down: x2 a stage), got {self.reshape_scale}")
    if self.decoder_init not in ("copy", "random"):
      raise ValueError(f"timesnet: decoder_init must be 'copy' or "
                       f"'random', got {self.decoder_init!r}")

  @property
  def stride(self) -> int:
    return 2 ** len(self.widths)

  def stage_input_width(self, k: int) -> int:
    return self.widths[k - 1] if k else self.in_channels


def resize(x: jax.Array, height: int, width: int) -> jax.Array:
  """[B, h, w, C] -> [B, height, width, C], bilinear."""
  return jax.image.resize(x, (x.shape[0], height, width, x.shape[-1]),
                          "bilinear")


class Stage(nn.Module):
  """[B, H, W, C_in] -> [B, H/2, W/2, width]: one backbone stage."""

  width: int
  groups: int

  @nn.compact
  def __call__(self, x):
    y = nn.Conv(self.width, (3, 3), strides=2, padding="SAME",
                name="down")(x)
    y = nn.gelu(nn.GroupNorm(self.groups, name="norm_down")(y))
    z = nn.Conv(self.width, (3, 3), padding="SAME", name="conv")(y)
    return nn.gelu(y + nn.GroupNorm(self.groups, name="norm_conv")(z))


class Encoder(nn.Module):
  """Image [B, H, W, C] -> the stages' outputs, [B, H / 2^(k+1), ...,
  widths[k]] for k = 0..3."""

  cfg: TimesNetConfig

  @nn.compact
  def __call__(self, image):
    features, x = [], image
    for k, width in enumerate(self.cfg.widths):
      self.sow("intermediates", f"stage_{k}_input", x)
      x = Stage(width, self.cfg.groups, name=f"stage_{k}")(x)
      features.append(x)
    return features


class ReShape(nn.Module):
  """[B, h, w, C] -> [B, scale h, scale w, width]: bilinear upsampling and
  a 1x1 conv."""

  width: int
  scale: int

  @nn.compact
  def __call__(self, x):
    x = resize(x, x.shape[1] * self.scale, x.shape[2] * self.scale)
    return nn.Conv(self.width, (1, 1), name="project")(x)


class Decoder(nn.Module):
  """(deepest feature [B, H/16, W/16, 128], image [B, H, W, 3]) -> depth
  [B, H, W]; the backbone's stages in reverse, no skips."""

  cfg: TimesNetConfig

  @nn.compact
  def __call__(self, deepest, image):
    cfg = self.cfg
    height, width = image.shape[1:3]
    x, depth = deepest, 0.0
    for k in reversed(range(len(cfg.widths))):
      x = ReShape(cfg.stage_input_width(k), cfg.reshape_scale,
                  name=f"reshape_{k}")(x)
      if cfg.input_mixing:
        alpha = self.param(f"alpha_{k}", nn.initializers.constant(
            cfg.alpha_init), ())
        mixed = nn.Conv(x.shape[-1], (3, 3), padding="SAME", name=f"mix_{k}")(
            resize(image, *x.shape[1:3]))
        x = x + alpha * mixed
      self.sow("intermediates", f"stage_{k}_input", x)
      x = Stage(cfg.widths[k], cfg.groups, name=f"stage_{k}")(x)
      # Post Feature Pyramid: after decoding, every stage's output.
      level = nn.Conv(1, (1, 1), name=f"pyramid_{k}")(x)
      depth = depth + resize(level, height, width)
    return nn.softplus(depth[..., 0])


class TimesNet(nn.Module):
  """A CNN classifier whose stages also serve, reversed, as the decoder."""

  cfg: TimesNetConfig

  def setup(self):
    self.encoder = Encoder(self.cfg)
    self.head = nn.Dense(self.cfg.num_classes)
    self.decoder = Decoder(self.cfg)

  def features(self, image: jax.Array) -> list[jax.Array]:
    """The encoder stages' outputs (see `Encoder`)."""
    _check_image(self.cfg, image)
    return self.encoder(image)

  def classify(self, image: jax.Array) -> jax.Array:
    """[B, H, W, C] -> class logits [B, num_classes]."""
    return self.head(self.features(image)[-1].mean(axis=(1, 2)))

  def decode(self, features: list[jax.Array], image: jax.Array
             ) -> jax.Array:
    """Depth [B, H, W] from encoder features and the image (mixing)."""
    _check_image(self.cfg, image)
    return self.decoder(features[-1], image)

  def __call__(self, image: jax.Array) -> jax.Array:
    """[B, H, W, C] image -> [B, H, W] positive depth."""
    return self.decode(self.features(image), image)


def _check_image(cfg: TimesNetConfig, image) -> None:
  if image.ndim != 4 or image.shape[-1] != cfg.in_channels:
    raise ValueError(f"timesnet: image must be [B, H, W, {cfg.in_channels}]"
                     f", got shape {image.shape}")
  for name, size in zip(("height", "width"), image.shape[1:3]):
    if size % cfg.stride:
      raise ValueError(f"timesnet: image {name} {size} is not divisible by "
                       f"the total stride {cfg.stride} (2^{len(cfg.widths)}"
                       " stages)")


def transplant(cfg: TimesNetConfig, params: dict, classifier: dict) -> dict:
  """Depth-model `params` with the classifier's stages loaded: the
  encoder's always, the decoder's (reversed order) for decoder_init="copy".
  `classifier` is a `classify` params tree ({"encoder", "head"})."""
  n = len(cfg.widths)
  pairs = surgery.reversed_stage_pairs(("encoder",), ("encoder",), n)
  if cfg.decoder_init == "copy":
    pairs += surgery.reversed_stage_pairs(("encoder",), ("decoder",), n)
  return surgery.copy_subtrees(params, classifier, pairs)


def depth_metrics(predicted, target, mask=None) -> dict[str, jax.Array]:
  """AbsRel = mean |d - d*| / d* and delta1 = share of max(d / d*, d* / d)
  < 1.25, over pixels [B, H, W] (and rows where `mask` [B] is true).

  Raises:
    ValueError: a (concrete) target depth is <= 0.
  """
  if not isinstance(target, jax.core.Tracer) and np.any(
      np.asarray(target) <= 0):
    raise ValueError(f"depth_metrics: target depth must be > 0, got a "
                     f"minimum of {float(np.min(target))}")
  weight = jnp.ones(target.shape[0]) if mask is None else mask
  weight = jnp.broadcast_to(weight[:, None, None].astype(jnp.float32),
                            target.shape)
  ratio = jnp.maximum(predicted / target, target / predicted)
  total = jnp.maximum(weight.sum(), 1.0)
  return {"abs_rel": jnp.sum(jnp.abs(predicted - target) / target * weight)
                     / total,
          "delta1": jnp.sum((ratio < 1.25) * weight) / total}


def build(cfg: TimesNetConfig) -> TimesNet:
  return TimesNet(cfg)


SYSTEM = registry.System(
    name="timesnet",
    family="arch",
    paper="Is Pre-training Applicable to the Decoder for Dense Prediction? "
          "(×Net)",
    summary="A pre-trained CNN classifier's stages reused, reversed, as the "
            "decoder, with Re-Shape, input mixing and a post feature "
            "pyramid (shape_scenes pre-training, depth_scenes: ray-cast "
            "spheres with analytic depth).",
    default_config=TimesNetConfig,
    builder=build,
    configs=("train.configs.timesnet:get_config",),
    task="train.tasks.depth_regression:TASK",
    evaluators=("train.evaluators.timesnet:evaluate",),
    claim="eval.claims.timesnet:check",
    datasets=("train.data.builders.shape_scenes:ShapeScenes",
              "train.data.builders.depth_scenes:DepthScenes"),
)
