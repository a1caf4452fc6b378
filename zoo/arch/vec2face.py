"""Vec2Face (Wu et al., ICLR 2025, "Vec2Face: Scaling Face Dataset
Generation with Loosely Constrained Vectors"; HaiyuWu/Vec2Face, MIT): a
face image generated from a face-recognition (FR) feature vector.

Toy version on synthetic data (`procedural_faces`, 28x28 grey faces with
known identity factors and yaw), not WebFace or LFW: the claims are about
the mechanism on synthetic data, not the paper's dataset. The FR network
is a small ArcFace CNN (s 30, m 0.5, 64-d, trained on 200 identities) and a
CNN yaw regressor replaces 6DRepNet (`zoo.vision.faces`); LPIPS and the
PatchGAN discriminator are off (no pretrained weights offline).

Generator, v [B, 64] -> image [B, 28, 28, 1] in [0, 1]:
1. e = Linear(v) [B, E]; a Linear(1 -> 49) applied to each channel of e
   gives a 7x7 grid of feature tokens [B, 49, E]; e is prepended: 50.
2. Training (a key given): MAGE masking. Each image draws a mask ratio
   r ~ TruncNormal(0.55, 0.25) on [0.5, 1]; a random ceil(49 r) of the
   feature tokens are masked (replaced by e) and ceil(0.5 x 49) = 25 of
   those are dropped from the encoder input (the 25 lowest of a uniform
   noise, the masked ones the ceil(49 r) lowest).
3. Learned positions + LayerNorm + dropout 0.1 (BERT-style), then a ViT
   encoder (`zoo.vision.vit.TransformerStack`).
4. Decoder: Linear to the decoder width; dropped and masked slots are
   refilled with the encoded token 0; learned positions; ViT blocks.
5. Tokens 1..49 as a 7x7 map -> conv upsampler (x2 nearest + 3x3 conv,
   GELU, per doubling) -> 1 channel, sigmoid.
At eval (no key) nothing is masked or dropped: the output is deterministic.
Losses (`train.tasks.vec2face_generation`): L1, 1 - SSIM and the identity
loss 1 - cos(FR(output), v), with v the FR feature of the input image.

Ours [recon]: one mask ratio per image (MAGE draws one per batch); sizes
E = 64, 4 encoder + 2 decoder layers of 4 heads, MLP 4x (the spec's
"tiny" has E = 128: halved for the CPU budget); no dropout inside the
blocks; loss weights 1, 1, 1. Identity vectors enter the generator at
norm sqrt(64) = 8 (`identity_vectors`), so coordinates are of order 1 as
in ArcFace's unnormalised 512-d features, and the edit's Adam lr 0.1 moves
them as much as in the paper.
"""

import dataclasses
import math

import flax.linen as nn
import jax
import numpy as np
from jax import numpy as jnp

from zoo import registry
from zoo.errors import ConfigError
from zoo.vision import faces
from zoo.vision.vit import TransformerStack, position_table


@dataclasses.dataclass(frozen=True)
class Vec2FaceConfig:
  """Attributes:

    feature_dim: the FR feature's width (the generator's input).
    num_identities: the FR's training identities (ArcFace centres).
    image_size: output side; image_size / grid must be a power of 2.
    grid: the token grid's side (7: 49 feature tokens).
    embed_dim, encoder_layers: the encoder's width and depth.
    decoder_dim, decoder_layers: the decoder's.
    num_heads: attention heads of every block.
    upsampler_widths: conv widths, one per doubling of the map.
    mask_mean, mask_std, mask_min, mask_max: the truncated normal of
      MAGE's mask ratio; mask_min also sets the dropped tokens,
      ceil(mask_min x grid^2).
    dropout: after the encoder's input LayerNorm, in training.
    arcface_scale, arcface_margin: the FR's ArcFace s and m.
    recognizer: a workdir of the FR run (`vec2face.py:stage=fr`) whose
      network the generator's identity loss uses (frozen); empty: the
      FR starts random (smoke runs).
  """

  feature_dim: int = 64
  num_identities: int = 200
  image_size: int = 28
  grid: int = 7
  embed_dim: int = 64
  encoder_layers: int = 4
  decoder_dim: int = 64
  decoder_layers: int = 2
  num_heads: int = 4
  upsampler_widths: tuple[int, ...] = (32, 16)
  mask_mean: float = 0.55
  mask_std: float = 0.25
  mask_min: float = 0.5
  mask_max: float = 1.0
  dropout: float = 0.1
  arcface_scale: float = 30.0
  arcface_margin: float = 0.5
  recognizer: str = ""

  def __post_init__(self):
    factor = self.image_size // self.grid
    if (self.image_size % self.grid or factor & (factor - 1)
        or factor != 2**len(self.upsampler_widths)):
      raise ConfigError(
          f"vec2face: image size {self.image_size} must be the token grid "
          f"{self.grid} times the upsampler's stride 2^"
          f"{len(self.upsampler_widths)} = {2**len(self.upsampler_widths)}")
    if self.image_size % 4:
      raise ConfigError(f"vec2face: image size {self.image_size} is not "
                       "divisible by the face networks' stride 4")
    for name in ("embed_dim", "decoder_dim"):
      if getattr(self, name) % self.num_heads:
        raise ConfigError(f"vec2face: {name} {getattr(self, name)} is not "
                         f"divisible by {self.num_heads} heads")
    if not 0 < self.mask_min <= self.mask_mean <= self.mask_max <= 1:
      raise ConfigError("vec2face: need 0 < mask_min <= mask_mean <= mask_max "
                       f"<= 1, got {self.mask_min}, {self.mask_mean}, "
                       f"{self.mask_max}")

  @property
  def num_tokens(self) -> int:
    """Feature tokens, grid^2."""
    return self.grid**2

  @property
  def num_dropped(self) -> int:
    return math.ceil(self.mask_min * self.num_tokens)


def identity_vectors(features: jax.Array) -> jax.Array:
  """FR features [B, D] -> the generator's input: unit rows x sqrt(D)."""
  return faces.unit(features) * math.sqrt(features.shape[-1])


def mask_ratios(key: jax.Array, batch: int, cfg: Vec2FaceConfig
                ) -> jax.Array:
  """[batch] MAGE mask ratios ~ TruncNormal(mean, std) on [min, max]."""
  lower = (cfg.mask_min - cfg.mask_mean) / cfg.mask_std
  upper = (cfg.mask_max - cfg.mask_mean) / cfg.mask_std
  z = jax.random.truncated_normal(key, lower, upper, (batch,))
  return jnp.clip(cfg.mask_mean + cfg.mask_std * z, cfg.mask_min,
                  cfg.mask_max)


def token_masks(key: jax.Array, batch: int, cfg: Vec2FaceConfig
                ) -> tuple[jax.Array, jax.Array, jax.Array]:
  """MAGE's masks over the feature tokens.

  Returns:
    masked [B, N] bool (ceil(N r) per row), kept [B, N - num_dropped] int
    (the feature tokens the encoder sees, by index), ratios [B].
  """
  ratio_key, noise_key = jax.random.split(key)
  ratios = mask_ratios(ratio_key, batch, cfg)
  n = cfg.num_tokens
  order = jnp.argsort(jax.random.uniform(noise_key, (batch, n)), axis=1)
  rank = jnp.argsort(order, axis=1)
  num_masked = jnp.ceil(n * ratios).astype(jnp.int32)
  return rank < num_masked[:, None], order[:, cfg.num_dropped:], ratios


class Generator(nn.Module):
  """Identity vectors [B, D] -> images [B, S, S, 1] in [0, 1]."""

  cfg: Vec2FaceConfig

  @nn.compact
  def __call__(self, v, key=None):
    cfg = self.cfg
    if v.ndim != 2 or v.shape[-1] != cfg.feature_dim:
      raise ValueError(f"vec2face: identity vectors must be [B, "
                       f"{cfg.feature_dim}], got shape {v.shape}")
    b, n = v.shape[0], cfg.num_tokens
    e = nn.Dense(cfg.embed_dim, name="feature_to_embed")(v)  # [B, E]
    grid = nn.Dense(n, name="embed_to_tokens")(e[..., None])  # [B, E, N]
    features = grid.transpose(0, 2, 1)  # [B, N, E]
    batch_rows = jnp.arange(b)[:, None]
    if key is not None:
      mask_key, dropout_key = jax.random.split(key)
      masked, kept, _ = token_masks(mask_key, b, cfg)
      features = jnp.where(masked[..., None], e[:, None], features)
    x = jnp.concatenate([e[:, None], features], axis=1)  # [B, 1 + N, E]
    self.sow("intermediates", "tokens", x)
    x = x + position_table(self, "positions", n + 1, cfg.embed_dim)
    x = nn.LayerNorm(name="input_norm")(x)
    if key is not None:
      keep = jax.random.bernoulli(dropout_key, 1 - cfg.dropout, x.shape)
      x = jnp.where(keep, x / (1 - cfg.dropout), 0.0)
      x = jnp.concatenate([x[:, :1], x[batch_rows, 1 + kept]], axis=1)
    self.sow("intermediates", "encoder_input", x)
    x = TransformerStack(cfg.encoder_layers, cfg.num_heads,
                         4 * cfg.embed_dim, name="encoder")(x)
    x = nn.Dense(cfg.decoder_dim, name="decoder_embed")(x)
    if key is not None:
      # Dropped and masked slots get token 0, kept ones their encoding.
      full = jnp.broadcast_to(x[:, :1], (b, n, cfg.decoder_dim))
      full = full.at[batch_rows, kept].set(x[:, 1:])
      full = jnp.where(masked[..., None], x[:, :1], full)
      x = jnp.concatenate([x[:, :1], full], axis=1)
    self.sow("intermediates", "decoder_input", x)
    x = x + position_table(self, "decoder_positions", n + 1,
                           cfg.decoder_dim)
    x = TransformerStack(cfg.decoder_layers, cfg.num_heads,
                         4 * cfg.decoder_dim, name="decoder")(x)
    y = x[:, 1:].reshape(b, cfg.grid, cfg.grid, cfg.decoder_dim)
    for i, width in enumerate(cfg.upsampler_widths):
      y = jax.image.resize(y, (b, 2 * y.shape[1], 2 * y.shape[2],
                               y.shape[3]), "nearest")
      y = nn.gelu(nn.Conv(width, (3, 3), padding="SAME",
                          name=f"upsample_{i}")(y))
    y = nn.Conv(1, (3, 3), padding="SAME", name="to_pixels")(y)
    return nn.sigmoid(y)


class Vec2Face(nn.Module):
  """The generator with the FR network and the yaw regressor it is
  trained and steered with; each part has its own method."""

  cfg: Vec2FaceConfig

  def setup(self):
    self.generator = Generator(self.cfg)
    self.recognizer = faces.FaceRecognizer(self.cfg.feature_dim,
                                           self.cfg.num_identities)
    self.yaw_regressor = faces.YawRegressor()

  def __call__(self, v: jax.Array, key: jax.Array | None = None
               ) -> jax.Array:
    """[B, D] identity vectors -> [B, S, S, 1] images; MAGE masking and
    dropout when `key` is given (training)."""
    return self.generator(v, key)

  def features(self, images: jax.Array) -> jax.Array:
    """[B, S, S, 1] -> [B, D] FR features (not normalised)."""
    return self.recognizer(images)

  def arcface_logits(self, images: jax.Array, labels: jax.Array
                     ) -> jax.Array:
    """[B, num_identities] ArcFace logits (`zoo.vision.faces`)."""
    return self.recognizer.logits(images, labels, self.cfg.arcface_scale,
                                  self.cfg.arcface_margin)

  def yaw(self, images: jax.Array) -> jax.Array:
    """[B, S, S, 1] -> [B] estimated yaw."""
    return self.yaw_regressor(images)


def build(cfg: Vec2FaceConfig) -> Vec2Face:
  return Vec2Face(cfg)


def sample_identities(rng: np.random.Generator, count: int, dim: int,
                      max_cos: float = 0.3, tries: int = 10_000
                      ) -> np.ndarray:
  """[count, dim] random unit vectors with pairwise cosine < max_cos: each
  candidate (uniform on the sphere) is kept if it is far enough from those
  kept so far.

  Raises:
    ValueError: `tries` candidates did not give `count` vectors.
  """
  kept: list[np.ndarray] = []
  for _ in range(tries):
    v = rng.normal(size=dim)
    v /= np.linalg.norm(v)
    if all(v @ u < max_cos for u in kept):
      kept.append(v)
      if len(kept) == count:
        return np.stack(kept)
  raise ValueError(f"sample_identities: {tries} tries gave {len(kept)} of "
                   f"{count} vectors with pairwise cos < {max_cos} in "
                   f"{dim} dimensions")


def noise_scale(dim: int, mean_cos: float) -> float:
  """s with E cos(v, v + s z) ~ mean_cos for unit v, z ~ N(0, I_dim): the
  cosine is about 1 / sqrt(1 + dim s^2)."""
  return math.sqrt((1 / mean_cos**2 - 1) / dim)


def perturb(rng: np.random.Generator, v: np.ndarray, count: int,
            scale: float) -> np.ndarray:
  """[K, D] unit vectors -> [K, count, D]: normalize(v + scale z)."""
  z = rng.normal(size=(v.shape[0], count, v.shape[1]))
  out = v[:, None] + scale * z
  return out / np.linalg.norm(out, axis=-1, keepdims=True)


SYSTEM = registry.System(
    name="vec2face",
    family="arch",
    paper="Vec2Face: Scaling Face Dataset Generation with Loosely "
          "Constrained Vectors",
    summary="Face images from FR feature vectors: 50 tokens (e and a "
            "Linear(1->49) grid), MAGE masking, ViT encoder-decoder, conv "
            "upsampler; new identities from separated random vectors, "
            "gradient edits of yaw (procedural_faces, toy ArcFace FR).",
    default_config=Vec2FaceConfig,
    builder=build,
    configs=("train.configs.vec2face:get_config",),
    task="train.tasks.vec2face_generation:TASK",
    evaluators=("train.evaluators.vec2face:evaluate",),
    claim="eval.claims.vec2face:check",
    datasets=("train.data.builders.procedural_faces:ProceduralFaces",),
)
