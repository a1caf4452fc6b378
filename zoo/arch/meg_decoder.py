"""Brain module of "Brain decoding: toward real-time reconstruction of visual
perception" (Benchetrit, Banville and King, ICLR 2024), after brainmagick.

There is no official code; the brain module follows brainmagick's
`SimpleConv` (Defossez et al. 2023). MEG [B, sensors, T] ->
1. spatial attention: each of `merger_channels` outputs is a softmax over
   the present sensors of logits <z_o, F(p_c)>, F the Fourier features of
   the sensor's 2-D position; in training, all sensors within a random
   radius of a random present sensor are dropped first;
2. a 1x1 conv;
3. the subject layer, one C x C matrix per subject (identity at init);
4. `num_blocks` blocks of two residual dilated convs (kernel 3, BatchNorm,
   GELU; dilations cycle 1, 4, 16, 2, 8 as brainmagick's 2^(2k mod 5)) and
   a GLU conv;
5. a 1x1 conv, a learned affine map over time (temporal aggregation), and
   two MLP heads giving the 32-d code: "clip" (trained with InfoNCE,
   brain -> image, used for retrieval) and "mse".
Loss: lam * InfoNCE + (1 - lam) * MSE (`loss`).

Ours (paper or brainmagick in brackets): 64 spatial outputs [270], 128
Fourier features from an 8 x 8 frequency grid [2048], hidden width 64
[320], heads Dense-GELU-Dense of width 128, lam 0.75 [recon], drop radius
uniform in [0, 0.2] of the unit-square layout.
"""

import dataclasses
import math

import flax.linen as nn
import jax
import numpy as np
from jax import numpy as jnp

from ops.losses import LOG_SCALE_INIT, info_nce
from zoo import registry


@dataclasses.dataclass(frozen=True)
class MegDecoderConfig:
  num_sensors: int = 272
  num_subjects: int = 4
  num_times: int = 60
  merger_channels: int = 64
  fourier_freqs: int = 8
  fourier_margin: float = 0.2
  drop_radius: float = 0.2
  hidden: int = 64
  num_blocks: int = 5
  head_hidden: int = 128
  code_dim: int = 32
  clip_weight: float = 0.75  # lam

  def __post_init__(self):
    if not 0.0 <= self.clip_weight <= 1.0:
      raise ValueError(f"clip_weight must be in [0, 1], got "
                       f"{self.clip_weight}")


def fourier_features(positions: jax.Array, freqs: int, margin: float
                     ) -> jax.Array:
  """[..., 2] positions in [0, 1]^2 -> [..., 2 freqs^2] (brainmagick's
  FourierEmb): cos and sin of 2 pi (i x + j y) / (1 + 2 margin)."""
  k = 2 * math.pi * jnp.arange(freqs) / (1 + 2 * margin)
  p = positions + margin
  phase = (p[..., 0, None, None] * k[:, None]
           + p[..., 1, None, None] * k[None, :])
  phase = phase.reshape(*phase.shape[:-2], freqs * freqs)
  return jnp.concatenate([jnp.cos(phase), jnp.sin(phase)], axis=-1)


def radius_dropout(key: jax.Array, positions: jax.Array, present: jax.Array,
                   max_radius: float) -> jax.Array:
  """Drops the sensors within a random radius of a random present sensor.

  Args:
    positions: [B, C, 2]; present: [B, C] bool.
  Returns:
    [B, C] bool, `present` minus the dropped sensors (all of `present` is
    kept in a row that would lose every sensor).
  """
  centre_key, radius_key = jax.random.split(key)
  b = present.shape[0]
  logits = jnp.where(present, 0.0, -jnp.inf)
  centre = jax.random.categorical(centre_key, logits)  # [B]
  radius = jax.random.uniform(radius_key, (b,), maxval=max_radius)
  where = jnp.take_along_axis(positions, centre[:, None, None], axis=1)
  dist = jnp.linalg.norm(positions - where, axis=-1)  # [B, C]
  kept = present & (dist > radius[:, None])
  return jnp.where(jnp.any(kept, axis=1, keepdims=True), kept, present)


class SpatialAttention(nn.Module):
  """[B, C, T] sensors -> [B, O, T], softmax over the present sensors."""

  out_channels: int
  freqs: int
  margin: float

  @nn.compact
  def __call__(self, meg, positions, present):
    features = fourier_features(positions, self.freqs, self.margin)
    heads = self.param("heads", nn.initializers.normal(
        features.shape[-1] ** -0.5), (self.out_channels, features.shape[-1]))
    logits = jnp.einsum("od,bcd->boc", heads, features)
    logits = jnp.where(present[:, None, :], logits, -jnp.inf)
    weights = jax.nn.softmax(logits, axis=-1)  # [B, O, C]
    self.sow("intermediates", "spatial_weights", weights)
    return jnp.einsum("boc,bct->bot", weights, meg)


class SubjectLayer(nn.Module):
  """x[b] -> x[b] @ W[subject[b]].T; [B, T, C] -> [B, T, C]."""

  num_subjects: int

  @nn.compact
  def __call__(self, x, subject):
    c = x.shape[-1]
    weights = self.param(
        "weights", lambda _, shape: jnp.broadcast_to(jnp.eye(c), shape),
        (self.num_subjects, c, c))
    return jnp.einsum("btc,bdc->btd", x, weights[subject])


class ConvBlock(nn.Module):
  """Two residual dilated convs (BatchNorm, GELU) and a GLU conv."""

  width: int
  dilations: tuple[int, int]

  @nn.compact
  def __call__(self, x, train: bool):  # [B, T, width]
    for d in self.dilations:
      y = nn.Conv(self.width, (3,), kernel_dilation=d, padding="SAME")(x)
      y = nn.BatchNorm(use_running_average=not train, momentum=0.9)(y)
      x = x + nn.gelu(y)
    return nn.glu(nn.Conv(2 * self.width, (3,), padding="SAME")(x), axis=-1)


class MegDecoder(nn.Module):
  cfg: MegDecoderConfig

  @nn.compact
  def __call__(self, meg, subject, positions, present=None,
               train: bool = False) -> dict[str, jax.Array]:
    """Decodes the image code from MEG.

    Args:
      meg: [B, sensors, T] preprocessed epochs.
      subject: [B] int subject ids in [0, num_subjects).
      positions: [B, sensors, 2] sensor positions in the unit square.
      present: [B, sensors] bool, the sensors recorded (default all).
      train: batch statistics and sensor dropout (rng "dropout").

    Returns:
      {"clip": [B, code_dim], "mse": [B, code_dim]}.
    """
    cfg = self.cfg
    if present is None:
      present = jnp.ones(meg.shape[:2], bool)
    _check_inputs(cfg, meg, subject, positions, present)
    if train:
      present = radius_dropout(self.make_rng("dropout"), positions, present,
                               cfg.drop_radius)
    x = SpatialAttention(cfg.merger_channels, cfg.fourier_freqs,
                         cfg.fourier_margin)(meg, positions, present)
    x = nn.Conv(cfg.hidden, (1,))(jnp.swapaxes(x, 1, 2))  # [B, T, hidden]
    x = SubjectLayer(cfg.num_subjects)(x, subject)
    for k in range(cfg.num_blocks):
      x = ConvBlock(cfg.hidden, (2 ** (2 * k % 5), 2 ** ((2 * k + 1) % 5)))(
          x, train)
    x = nn.gelu(nn.Conv(cfg.hidden, (1,))(x))
    x = nn.Dense(1, name="temporal_aggregation")(jnp.swapaxes(x, 1, 2))[..., 0]
    self.param("log_scale", nn.initializers.constant(LOG_SCALE_INIT), ())
    return {name: nn.Dense(cfg.code_dim)(nn.gelu(nn.Dense(cfg.head_hidden)(
        nn.LayerNorm()(x)))) for name in ("clip", "mse")}


  def retrieval_pair(self, inputs) -> tuple[jax.Array, jax.Array]:
    """(the "clip" head's prediction, the true code) [B, 32] each, on
    prepared inputs (`train.tasks.meg_clip_mse`)."""
    return self(inputs["meg"], inputs["subject"], inputs["positions"],
                inputs["present"])["clip"], inputs["code"]


def _check_inputs(cfg, meg, subject, positions, present) -> None:
  b = meg.shape[0]
  expected = {"meg": (b, cfg.num_sensors, cfg.num_times), "subject": (b,),
              "positions": (b, cfg.num_sensors, 2),
              "present": (b, cfg.num_sensors)}
  for name, array in zip(expected, (meg, subject, positions, present)):
    if array.shape != expected[name]:
      raise ValueError(f"meg_decoder: {name} must have shape "
                       f"{expected[name]}, got {array.shape}")
  if isinstance(present, jax.core.Tracer) or isinstance(
      subject, jax.core.Tracer):
    return
  present, subject = np.asarray(present), np.asarray(subject)
  empty = np.flatnonzero(~np.any(present, axis=1))
  if empty.size:
    raise ValueError(f"meg_decoder: every sensor is dropped in row "
                     f"{int(empty[0])}; at least one must be present")
  bad = subject[(subject < 0) | (subject >= cfg.num_subjects)]
  if bad.size:
    raise ValueError(f"meg_decoder: unknown subject id {int(bad[0])}; valid "
                     f"ids: {', '.join(map(str, range(cfg.num_subjects)))}")


def loss(cfg: MegDecoderConfig, outputs: dict[str, jax.Array],
         code: jax.Array, log_scale: jax.Array
         ) -> tuple[jax.Array, dict[str, jax.Array]]:
  """lam * InfoNCE(clip head -> code) + (1 - lam) * MSE(mse head, code)."""
  nce = info_nce(outputs["clip"], code, log_scale, symmetric=False)
  mse = jnp.mean((outputs["mse"] - code) ** 2)
  lam = cfg.clip_weight
  return lam * nce + (1 - lam) * mse, {"info_nce": nce, "mse": mse}


def build(cfg: MegDecoderConfig) -> MegDecoder:
  return MegDecoder(cfg)


SYSTEM = registry.System(
    name="meg_decoder",
    family="arch",
    paper="Brain decoding: toward real-time reconstruction of visual "
          "perception",
    summary="Spatial attention over sensors, subject layer and dilated "
            "convs decode image codes from MEG (synthetic_meg: simulated "
            "CTF-272 epochs of digits).",
    default_config=MegDecoderConfig,
    builder=build,
    configs=("train.configs.meg_decoder:get_config",),
    task="train.tasks.meg_clip_mse:TASK",
    evaluators=("train.evaluators.code_retrieval:evaluate",),
    claim="eval.claims.meg_decoder:check",
    datasets=("train.data.builders.synthetic_meg:SyntheticMeg",),
)
