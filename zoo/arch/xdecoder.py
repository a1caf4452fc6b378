"""X-Decoder: "Generalized Decoding for Pixel, Image, and Language" (Zou
et al., CVPR 2023), re-derived at toy scale.

The claims here are about the mechanism on synthetic data (`shape_scenes`:
coloured shapes with panoptic ids and referring phrases), not the paper's
datasets (COCO panoptic, RefCOCO) or encoders (Focal/DaViT, CLIP text).

Image [B, H, W, 3] and texts ->
1. pixel embeddings [B, H/2, W/2, D] (`zoo.vision.masked_decoder.
   PixelEncoder`: 3 strided conv stages and an FPN pixel decoder);
2. a text encoder over word tokens (2 causal zoo `Block`s, rotary
   positions, a key mask over padding); a text's embedding is the state of
   its final `<end>` token (CLIP's [EOS]) projected to the joint space;
3. queries: `num_latents` learned latent queries, one global latent query,
   and optional text queries (the phrase's token states, projected);
4. before the first layer and after each of `decoder_layers` (paper: 9;
   here 3), a shared head predicts every query's mask logits
   <mask_embed(q), pixel_emb> [B, Q, H/2, W/2] and class logits, the
   scaled cosine of its class embedding to the class names' text
   embeddings, plus a learned "no object" logit;
5. a decoder layer: masked cross-attention (a query sees the pixels where
   its previous mask logit > 0, i.e. sigmoid > 0.5; an empty mask sees
   all), self-attention, FFN. Latent queries never attend to text
   queries ([recalled] in the spec; kept), so generic outputs do not
   depend on the text; text queries see the latents and, causally, the
   earlier text queries.
The referring mask is the last text query's mask. Generic masks come from
the `num_latents` latent queries; the global query serves image-level
tasks (retrieval, captioning), which are not trained here.

Ours [recon]: a word-level vocabulary of 19 tokens (`VOCAB`: what
`shape_scenes`' names, phrases and captions use); widths (D = 64, 4
heads, FFN 128, conv stages 16/32/64); single-scale memory (the 16x16
pixel embeddings, learned positions on the keys) instead of Mask2Former's
round-robin over three scales; pre-norm layers without query positional
embeddings; the logit scale learnable from 1/0.07, at most 100.
"""

import dataclasses
import math

import flax.linen as nn
import jax
import numpy as np
from jax import numpy as jnp

from ops.losses import LOG_SCALE_INIT, MAX_SCALE
from zoo import registry
from zoo.layers.transformer import Block
from zoo.vision import masked_decoder

COLOURS = ("red", "green", "blue", "yellow", "white")
KINDS = ("circle", "square", "triangle")
VOCAB = ("<pad>", "<end>", "the", "a", "and", "of", "left", "right",
         "above", "below", "background", *COLOURS, *KINDS)
PAD, END = 0, 1
# "background" and the 15 "<colour> <kind>" names (category c: 1 + c).
CLASS_NAMES = ("background", *(f"{c} {k}" for c in COLOURS for k in KINDS))


def tokenize(texts, length: int | None = None) -> np.ndarray:
  """Texts (str or bytes) -> ids [N, L]: words, then `<end>`, then `<pad>`.

  Raises:
    ValueError: a word outside `VOCAB`, an empty text, or a text longer
      than `length` - 1 words.
  """
  index = {w: i for i, w in enumerate(VOCAB)}
  rows = []
  for text in texts:
    text = text.decode() if isinstance(text, bytes) else str(text)
    words = text.split()
    if not words:
      raise ValueError("xdecoder: cannot encode an empty text")
    unknown = [w for w in words if w not in index]
    if unknown:
      raise ValueError(f"xdecoder: words {unknown} of {text!r} are not in "
                       f"the vocabulary {VOCAB[2:]}")
    rows.append([index[w] for w in words] + [END])
  width = max(map(len, rows), default=1) if length is None else length
  if any(len(r) > width for r in rows):
    raise ValueError(f"xdecoder: a text of {max(map(len, rows)) - 1} words "
                     f"does not fit length {width}")
  return np.array([r + [PAD] * (width - len(r)) for r in rows], np.int32
                  ).reshape(len(rows), width)


@dataclasses.dataclass(frozen=True)
class XDecoderConfig:
  """Attributes:

    image_size: input height and width; a multiple of `stride`.
    widths: conv stages of the image encoder, stride 2 each.
    dim: query, pixel and text width.
    joint_dim: the joint image-text space of the class embeddings.
    num_heads: attention heads (text encoder and decoder).
    mlp_dim: FFN hidden width.
    text_layers: causal blocks of the text encoder.
    decoder_layers: X-Decoder layers (paper: 9).
    num_latents: generic latent queries (the global one comes on top).
    class_names: the training vocabulary of classes (the task's targets);
      any list can be passed at inference.
  """

  image_size: int = 32
  widths: tuple[int, ...] = (16, 32, 64)
  dim: int = 64
  joint_dim: int = 64
  num_heads: int = 4
  mlp_dim: int = 128
  text_layers: int = 2
  decoder_layers: int = 3
  num_latents: int = 8
  class_names: tuple[str, ...] = CLASS_NAMES

  def __post_init__(self):
    if not self.widths or self.image_size < 1 or (
        self.image_size % self.stride):
      raise ValueError(f"image_size {self.image_size} is not divisible by "
                       f"the encoder's total stride {self.stride} "
                       f"({len(self.widths)} stride-2 stages)")
    if not self.class_names:
      raise ValueError("class_names must name at least one class, got an "
                       "empty list")
    tokenize(self.class_names)  # every word known
    if self.dim % self.num_heads:
      raise ValueError(f"dim {self.dim} is not divisible by num_heads "
                       f"{self.num_heads}")

  @property
  def stride(self) -> int:
    return 2 ** len(self.widths)

  @property
  def mask_size(self) -> int:
    """Side of the mask logits and pixel embeddings (image_size / 2)."""
    return self.image_size // 2


def causal_text_mask(valid: jax.Array) -> jax.Array:
  """[B, T] bool -> [B, T, T]: token i sees valid tokens j <= i."""
  t = valid.shape[1]
  return jnp.tril(jnp.ones((t, t), bool))[None] & valid[:, None, :]


def last_valid(states: jax.Array, valid: jax.Array) -> jax.Array:
  """[B, T, D] -> [B, D]: each row's state at its last valid token."""
  last = jnp.maximum(jnp.sum(valid, axis=1) - 1, 0)
  return jnp.take_along_axis(states, last[:, None, None], axis=1)[:, 0]


class TextEncoder(nn.Module):
  """ids [B, T] -> token states [B, T, dim] (causal, pads masked out)."""

  cfg: XDecoderConfig

  @nn.compact
  def __call__(self, ids):
    cfg = self.cfg
    x = nn.Embed(len(VOCAB), cfg.dim, name="token_embedding")(ids)
    valid = ids != PAD
    mask = causal_text_mask(valid)
    positions = jnp.broadcast_to(jnp.arange(ids.shape[1]), ids.shape)
    for i in range(cfg.text_layers):
      x, _ = Block(cfg.num_heads, cfg.num_heads, cfg.dim // cfg.num_heads,
                   cfg.mlp_dim, 10_000.0, jnp.float32, name=f"block_{i}")(
                       x, positions, mask)
    return nn.RMSNorm(name="final_norm")(x)


def query_mask(num_latent: int, text_valid: jax.Array) -> jax.Array:
  """Self-attention mask [B, Q + T, Q + T] of Q latent and T text queries:
  latents see latents only; text query i sees the latents and the valid
  text queries j <= i."""
  b, t = text_valid.shape
  top = jnp.concatenate([jnp.ones((b, num_latent, num_latent), bool),
                         jnp.zeros((b, num_latent, t), bool)], axis=2)
  bottom = jnp.concatenate([jnp.ones((b, t, num_latent), bool),
                            causal_text_mask(text_valid)], axis=2)
  return jnp.concatenate([top, bottom], axis=1)


class XDecoder(nn.Module):
  """Open-vocabulary generic and referring segmentation (see the module
  docstring)."""

  cfg: XDecoderConfig

  def setup(self):
    cfg = self.cfg
    self.pixel_encoder = masked_decoder.PixelEncoder(cfg.widths, cfg.dim)
    self.text_encoder = TextEncoder(cfg)
    self.text_projection = nn.Dense(cfg.joint_dim)
    self.text_queries = nn.Dense(cfg.dim)
    self.latents = self.param("latents", nn.initializers.normal(1.0),
                              (cfg.num_latents + 1, cfg.dim))
    self.key_positions = self.param(
        "key_positions", nn.initializers.normal(0.02),
        (cfg.mask_size**2, cfg.dim))
    self.layers = [masked_decoder.DecoderLayer(cfg.num_heads, cfg.mlp_dim)
                   for _ in range(cfg.decoder_layers)]
    self.head = masked_decoder.PredictionHead(cfg.joint_dim)
    self.log_scale = self.param("log_scale", nn.initializers.constant(
        LOG_SCALE_INIT), ())
    self.no_object = self.param("no_object", nn.initializers.zeros, ())

  def pixel_embeddings(self, image: jax.Array) -> jax.Array:
    """[B, H, W, 3] -> [B, H/2, W/2, dim]."""
    _check_image(self.cfg, image)
    return self.pixel_encoder(image)

  def text_embeddings(self, ids: jax.Array) -> jax.Array:
    """ids [K, L] (see `tokenize`) -> unit embeddings [K, joint_dim]."""
    if ids.ndim != 2 or ids.shape[0] == 0:
      raise ValueError(f"xdecoder: class names must be token ids [K >= 1, "
                       f"L], got shape {ids.shape} (an empty name list?)")
    states = self.text_encoder(ids)
    embedding = self.text_projection(last_valid(states, ids != PAD))
    return embedding / jnp.linalg.norm(embedding, axis=-1, keepdims=True)

  def __call__(self, image: jax.Array, class_ids: jax.Array,
               text_ids: jax.Array | None = None) -> dict[str, jax.Array]:
    """Predictions before the first decoder layer and after each.

    Args:
      image: [B, H, W, 3].
      class_ids: [K, L] token ids of the class names (`tokenize`).
      text_ids: optional [B, T] token ids of a phrase per image; its
        tokens become text queries.

    Returns:
      {"masks": [S, B, M, h, w] mask logits of the M = num_latents generic
      queries at each of the S = decoder_layers + 1 stages, "classes": [S,
      B, M, K + 1] class logits (last: no object), "mask_embeddings": [S,
      B, M, dim], "pixels": [B, h, w, dim], "global": [B, dim] the global
      query's last state; with text_ids, "text_masks": [S, B, T, h, w]
      and "referring": [S, B, h, w], the last valid text query's masks}.
    """
    cfg = self.cfg
    pixels = self.pixel_embeddings(image)
    b, h, w, _ = pixels.shape
    memory = pixels.reshape(b, h * w, cfg.dim)
    names = self.text_embeddings(class_ids)  # [K, E]
    queries = jnp.broadcast_to(self.latents, (b, *self.latents.shape))
    latent_count = queries.shape[1]
    if text_ids is None:
      text_valid = jnp.zeros((b, 0), bool)
    else:
      text_valid = text_ids != PAD
      queries = jnp.concatenate(
          [queries, self.text_queries(self.text_encoder(text_ids))], axis=1)
    qq_mask = query_mask(latent_count, text_valid)
    stages = []
    for layer in [None, *self.layers]:
      if layer is not None:
        visible = stages[-1][0].reshape(b, -1, h * w) > 0
        queries = layer(queries, memory, self.key_positions, visible,
                        qq_mask)
      masks, embeddings, class_embed = self.head(queries, pixels)
      stages.append((masks, embeddings, self._class_logits(class_embed,
                                                           names)))
    masks, embeddings, classes = (jnp.stack(s) for s in zip(*stages))
    generic = slice(0, cfg.num_latents)
    out = {"masks": masks[:, :, generic], "classes": classes[:, :, generic],
           "mask_embeddings": embeddings[:, :, generic], "pixels": pixels,
           "global": queries[:, cfg.num_latents]}
    if text_ids is not None:
      text_masks = masks[:, :, latent_count:]
      out["text_masks"] = text_masks
      last = jnp.maximum(jnp.sum(text_valid, axis=1) - 1, 0)
      out["referring"] = jnp.take_along_axis(
          text_masks, last[None, :, None, None, None], axis=2)[:, :, 0]
    return out

  def _class_logits(self, class_embed, names):
    """[B, Q, E] x unit [K, E] -> [B, Q, K + 1]: scaled cosines, then the
    learned no-object logit."""
    unit = class_embed / jnp.maximum(
        jnp.linalg.norm(class_embed, axis=-1, keepdims=True), 1e-6)
    scale = jnp.exp(jnp.minimum(self.log_scale, math.log(MAX_SCALE)))
    cosine = scale * jnp.einsum("bqe,ke->bqk", unit, names)
    no_object = jnp.broadcast_to(self.no_object, cosine.shape[:2] + (1,))
    return jnp.concatenate([cosine, no_object], axis=-1)


def _check_image(cfg: XDecoderConfig, image) -> None:
  size = cfg.image_size
  if image.ndim != 4 or image.shape[-1] != 3:
    raise ValueError(f"xdecoder: image must be [B, H, W, 3], got shape "
                     f"{image.shape}")
  for name, side in zip(("height", "width"), image.shape[1:3]):
    if side % cfg.stride:
      raise ValueError(f"xdecoder: image {name} {side} is not divisible by "
                       f"the encoder's total stride {cfg.stride}")
    if side != size:
      raise ValueError(f"xdecoder: image {name} {side} is not the config's "
                       f"image_size {size} (the key positions' grid)")


def upsample(masks: jax.Array, size: int) -> jax.Array:
  """Mask logits [..., h, w] -> [..., size, size], bilinear."""
  return jax.image.resize(masks, (*masks.shape[:-2], size, size), "bilinear")


def build(cfg: XDecoderConfig) -> XDecoder:
  return XDecoder(cfg)


SYSTEM = registry.System(
    name="xdecoder",
    family="arch",
    paper="Generalized Decoding for Pixel, Image, and Language (X-Decoder)",
    summary="Latent and text queries through masked cross-attention over "
            "pixel embeddings; masks <q, pixel>, open-vocabulary classes by "
            "cosine to class-name text embeddings, referring masks from "
            "the phrase (shape_scenes, 5 colour-kind pairs held out).",
    default_config=XDecoderConfig,
    builder=build,
    configs=("train.configs.xdecoder:get_config",),
    task="train.tasks.open_vocab_segmentation:TASK",
    evaluators=("train.evaluators.xdecoder:evaluate",),
    claim="eval.claims.xdecoder:check",
    datasets=("train.data.builders.shape_scenes:ShapeScenes",),
)
