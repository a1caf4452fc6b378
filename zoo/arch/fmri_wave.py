"""WAVE: "Decoding Visual Experience and Mapping Semantics through
Whole-Brain Analysis Using fMRI Foundation Models" (Wang et al. 2024),
re-derived from PPWangyc/WAVE at toy scale.

* fMRI encoder: GPT-style (causal zoo `Block`s, rotary positions at the
  TR times t / TR, an attention mask over valid TRs) over per-TR parcel
  vectors [B, TRs, parcels]; a next-TR head for CSM pre-training (MSE on
  rest runs) and a pooler (last valid TR -> Dense, tanh) -> Linear, the
  fMRI embedding.
* Frozen CLIP stand-ins: a digits CNN (image) and a 2-block causal text
  encoder over the tokens of "a digit N" (last token -> Linear), trained
  CLIP-style before WAVE (`train.tasks.fmri_wave_clip`); frozen by
  `freeze` (stop-gradient; with Adam and no weight decay they stay put).
* Prompt learner (CoCoOp-like): learned context + a meta-net on [fMRI
  embedding, image embedding] -> 8 context tokens put before "a digit N".
* Loss: the mean of the symmetric InfoNCE fMRI-image and fMRI-text, each
  with its own learnable scale (init 1/0.07, at most 100).
* Augmentation in training: 20% of the parcels zeroed, the first 5 TRs
  permuted (`mask_parcels`, `permute_first_trs`).

Ours: widths (fMRI 64, text 32, embedding 32), depths 2, meta-net hidden
64; the stand-ins' CLIP training scores each image against the 10 class
prompts (cross-entropy of scaled cosines), since a batch of labels repeats
prompts.
"""

import dataclasses

import flax.linen as nn
import jax
import numpy as np
from jax import numpy as jnp

from ops.losses import LOG_SCALE_INIT, info_nce
from zoo import registry
from zoo.layers.transformer import Block

NUMBERS = ("zero", "one", "two", "three", "four", "five", "six", "seven",
           "eight", "nine")
VOCAB = ("a", "digit", *NUMBERS)
FROZEN = ("image_encoder", "text_encoder")


def prompt_ids(labels: jax.Array) -> jax.Array:
  """[B] digits -> [B, 3] token ids of "a digit <name>"."""
  labels = jnp.asarray(labels)
  return jnp.stack([jnp.zeros_like(labels), jnp.ones_like(labels),
                    labels + 2], axis=-1)


@dataclasses.dataclass(frozen=True)
class FmriWaveConfig:
  num_parcels: int = 400
  num_trs: int = 10
  tr: float = 2.0
  width: int = 64
  depth: int = 2
  num_heads: int = 4
  text_width: int = 32
  text_depth: int = 2
  embed_dim: int = 32
  context_tokens: int = 8
  meta_hidden: int = 64
  mask_rate: float = 0.2
  permuted_trs: int = 5
  # Pre-training run by the task's init: CLIP stand-ins, then CSM.
  standin_steps: int = 300
  csm_steps: int = 300


class CausalEncoder(nn.Module):
  """Causal zoo Blocks over [B, T, width] with a key mask; final norm."""

  width: int
  depth: int
  num_heads: int

  @nn.compact
  def __call__(self, x, positions, valid):
    t = x.shape[1]
    mask = jnp.tril(jnp.ones((t, t), bool))[None] & valid[:, None, :]
    for i in range(self.depth):
      x, _ = Block(self.num_heads, self.num_heads, self.width // self.num_heads,
                   4 * self.width, 10_000.0, jnp.float32, name=f"block_{i}")(
                       x, positions, mask)
    return nn.LayerNorm()(x)


class FmriEncoder(nn.Module):
  cfg: FmriWaveConfig

  @nn.compact
  def __call__(self, bold, times, valid):
    """bold [B, T, parcels], times [B, T] s, valid [B, T] bool ->
    (embedding [B, E], next-TR prediction [B, T, parcels])."""
    cfg = self.cfg
    x = nn.Dense(cfg.width)(bold)
    positions = times / cfg.tr
    h = CausalEncoder(cfg.width, cfg.depth, cfg.num_heads)(x, positions,
                                                           valid)
    next_tr = nn.Dense(cfg.num_parcels, name="csm_head")(h)
    last = jnp.maximum(jnp.sum(valid, axis=1) - 1, 0)  # last valid TR
    pooled = jnp.tanh(nn.Dense(cfg.width, name="pooler")(
        jnp.take_along_axis(h, last[:, None, None], axis=1)[:, 0]))
    return nn.Dense(cfg.embed_dim, name="projection")(pooled), next_tr


class DigitCNN(nn.Module):
  embed_dim: int

  @nn.compact
  def __call__(self, pixels):  # [B, 8, 8] -> [B, E]
    x = nn.gelu(nn.Conv(16, (3, 3))(pixels[..., None]))
    x = nn.gelu(nn.Conv(32, (3, 3), strides=2)(x))
    return nn.Dense(self.embed_dim)(jnp.mean(x, axis=(1, 2)))


class TextEncoder(nn.Module):
  cfg: FmriWaveConfig

  def setup(self):
    cfg = self.cfg
    self.token_embedding = nn.Embed(len(VOCAB), cfg.text_width)
    self.encoder = CausalEncoder(cfg.text_width, cfg.text_depth, 4)
    self.projection = nn.Dense(cfg.embed_dim)

  def __call__(self, ids, context=None):
    """ids [B, L] with optional context [B, C, text_width] before them ->
    [B, E] (the last token's state)."""
    x = self.token_embedding(ids)
    if context is not None:
      x = jnp.concatenate([context, x], axis=1)
    b, t = x.shape[:2]
    positions = jnp.broadcast_to(jnp.arange(t), (b, t))
    h = self.encoder(x, positions, jnp.ones((b, t), bool))
    return self.projection(h[:, -1])


class PromptLearner(nn.Module):
  cfg: FmriWaveConfig

  @nn.compact
  def __call__(self, fmri, image):  # [B, E] each -> [B, C, text_width]
    cfg = self.cfg
    shape = (cfg.context_tokens, cfg.text_width)
    base = self.param("context", nn.initializers.normal(0.02), shape)
    h = nn.relu(nn.Dense(cfg.meta_hidden)(jnp.concatenate([fmri, image], -1)))
    shift = nn.Dense(shape[0] * shape[1])(h).reshape(-1, *shape)
    return base + shift


class FmriWave(nn.Module):
  cfg: FmriWaveConfig

  def setup(self):
    cfg = self.cfg
    self.fmri_encoder = FmriEncoder(cfg)
    self.image_encoder = DigitCNN(cfg.embed_dim)
    self.text_encoder = TextEncoder(cfg)
    self.prompt_learner = PromptLearner(cfg)
    self.log_scale_image = self.param(
        "log_scale_image", nn.initializers.constant(LOG_SCALE_INIT), ())
    self.log_scale_text = self.param(
        "log_scale_text", nn.initializers.constant(LOG_SCALE_INIT), ())

  def __call__(self, bold, times, valid, pixels, label):
    """Embeddings {"fmri", "image", "text", "next_tr"} of a batch: the text
    is the trial's own prompt, with context from [fMRI, image]."""
    _check_inputs(self.cfg, bold, label)
    fmri, next_tr = self.fmri_encoder(bold, times, valid)
    image = self.image_encoder(pixels)
    context = self.prompt_learner(fmri, image)
    text = self.text_encoder(prompt_ids(label), context)
    return {"fmri": fmri, "image": image, "text": text, "next_tr": next_tr}

  def class_texts(self, fmri, image):
    """[B, 10, E]: every class's prompt with the trial's context."""
    context = self.prompt_learner(fmri, image)
    ids = prompt_ids(jnp.arange(10))
    return jnp.stack([self.text_encoder(
        jnp.broadcast_to(i, (len(fmri), 3)), context) for i in ids], axis=1)

  def encode_fmri(self, bold, times, valid):
    return self.fmri_encoder(bold, times, valid)

  def encode_image(self, pixels):
    return self.image_encoder(pixels)

  def encode_text(self, ids):
    return self.text_encoder(ids)

  def retrieval_pair(self, inputs):
    """(fMRI embedding, image embedding) [B, E] each, for retrieval."""
    fmri, _ = self.fmri_encoder(inputs["bold"], inputs["times"],
                                inputs["valid"])
    return fmri, self.image_encoder(inputs["pixels"])


def _check_inputs(cfg, bold, label) -> None:
  if bold.ndim != 3 or bold.shape[2] != cfg.num_parcels:
    raise ValueError(f"fmri_wave: bold must be [batch, TRs, "
                     f"{cfg.num_parcels}], got {bold.shape}")
  if not isinstance(label, jax.core.Tracer):
    label = np.asarray(label)
    bad = label[(label < 0) | (label > 9)]
    if bad.size:
      raise ValueError(f"fmri_wave: label {bad[0]} is not a digit 0-9")


def loss(outputs, log_scale_image, log_scale_text):
  """Mean of symmetric InfoNCE fMRI-image and fMRI-text."""
  image = info_nce(outputs["fmri"], outputs["image"], log_scale_image)
  text = info_nce(outputs["fmri"], outputs["text"], log_scale_text)
  return 0.5 * (image + text), {"nce_image": image, "nce_text": text}


def freeze(params):
  """`params` with the frozen stand-ins behind a stop-gradient."""
  return {k: jax.lax.stop_gradient(v) if k in FROZEN else v
          for k, v in params.items()}


def mask_parcels(key, bold, rate):
  """Zeroes round(rate * parcels) random parcels of each trial, all TRs.

  bold [B, T, P] -> ([B, T, P], masked [B, P] bool).
  """
  bold = jnp.asarray(bold)
  b, _, p = bold.shape
  k = round(rate * p)
  scores = jax.random.uniform(key, (b, p))
  threshold = jnp.sort(scores, axis=1)[:, k - 1:k] if k else -1.0
  masked = scores <= threshold
  return jnp.where(masked[:, None, :], 0.0, bold), masked


def permute_first_trs(key, bold, n):
  """Permutes TRs 0..n-1 of each trial (one permutation per trial)."""
  bold = jnp.asarray(bold)
  b = bold.shape[0]
  perms = jax.vmap(lambda k: jax.random.permutation(k, n))(
      jax.random.split(key, b))  # [B, n]
  head = jnp.take_along_axis(bold[:, :n], perms[..., None], axis=1)
  return bold.at[:, :n].set(head)


def build(cfg: FmriWaveConfig) -> FmriWave:
  return FmriWave(cfg)


SYSTEM = registry.System(
    name="fmri_wave",
    family="arch",
    paper="WAVE: Decoding Visual Experience and Mapping Semantics through "
          "Whole-Brain Analysis Using fMRI Foundation Models",
    summary="A CSM-pre-trained GPT over parcel vectors aligned to frozen "
            "image and prompted text encoders (synthetic_fmri: simulated "
            "400-parcel BOLD of digits; a pipeline test).",
    default_config=FmriWaveConfig,
    builder=build,
    configs=("train.configs.fmri_wave:get_config",),
    task="train.tasks.fmri_wave_clip:TASK",
    evaluators=("train.evaluators.code_retrieval:evaluate",),
    claim="eval.claims.fmri_wave:check",
    datasets=("train.data.builders.synthetic_fmri:SyntheticFmri",),
)
