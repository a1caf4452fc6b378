"""In-context vectors, and knowledge fed to a frozen LM through them.

Liu et al. 2023, "In-context Vectors: Making In Context Learning More
Effective and Controllable Through Latent Space Steering" (code
shengliu66/ICV, not inspected): the operator `icv_shift`,
h <- (h + lambda v_l) |h| / |h + lambda v_l| at every position of layer l
(each block's output, through `DecoderLM(layer_shift=)`), and the ICV of
demonstrations (x_i, y_i), the first principal direction of the per-layer
differences H(y_i) - H(x_i) (`icv_from_demos`).

Santosh Kumar et al., "Efficient Knowledge Feeding to Language Models: A
Novel Integrated Encoder-Decoder Architecture" (arXiv 2502.05233, no code
found): an encoder turns retrieved knowledge into ICVs for the decoder,
trained with L = alpha L_cos + (1 - alpha) L_gen, alpha moving from
retrieval alignment to generation. Here (ours, UNVERIFIED: the paper's
architecture is not public): ARC-Encoder's compressor
(`zoo.retrieval.arc_encoder.Compressor`: the text target's first 2 blocks,
bidirectional, one pooled group over the whole context) and an MLP give one
vector per decoder layer, applied by the operator above to the frozen
"text" target reading the continuation after one <bos>; no
cross-attention, 0 extra positions. L_cos = mean over layers of 1 -
cos(v_l, Delta_l), Delta_l the frozen decoder's layer-l states with the
context in the prompt minus without, averaged over the positions that
predict the continuation; L_gen the continuation's NLL; alpha =
alpha_start (1 - step / alpha_steps), floored at 0 (a `schedule` step
counter in the train state).

Other choices (ours): lambda = 1 (the vectors' norms are learned);
`icv_from_demos` points its direction along the mean difference (a
principal direction has no sign).
"""

import dataclasses
import math

import flax.linen as nn
import jax
import numpy as np
from jax import numpy as jnp

from zoo import registry
from zoo.lm.decoder import DecoderConfig, DecoderLM
from zoo.retrieval import arc_encoder

SCHEDULE = "schedule"  # the collection counting train steps (alpha)
# The "last" feed's tokens: as many as ARC-Encoder's vectors (x = 4).
LAST_TOKENS = arc_encoder.ArcEncoderConfig().num_vectors


def icv_shift(h: jax.Array, v: jax.Array, strength: float) -> jax.Array:
  """(h + strength v) |h| / |h + strength v|, norms over the last axis.

  Args:
    h: [B, T, E] states.
    v: [B, E] or [E], one vector per row (or shared).
    strength: lambda, finite.

  Returns:
    [B, T, E]: every position moved toward v, its norm kept.
  """
  if not math.isfinite(strength):
    raise ValueError(f"icv_shift: strength (lambda) must be finite, got "
                     f"{strength}")
  if v.shape not in ((h.shape[-1],), (h.shape[0], h.shape[-1])):
    raise ValueError(f"icv_shift: v must be [E={h.shape[-1]}] or "
                     f"[B={h.shape[0]}, E], got {v.shape}")
  if strength == 0:
    return h
  v = v[..., None, :] if v.ndim == 2 else v
  moved = h.astype(jnp.float32) + strength * v.astype(jnp.float32)
  norm = jnp.linalg.norm(h.astype(jnp.float32), axis=-1, keepdims=True)
  scale = norm / jnp.maximum(jnp.linalg.norm(moved, axis=-1, keepdims=True),
                             1e-12)
  return (moved * scale).astype(h.dtype)


def icv_from_demos(h_x: np.ndarray, h_y: np.ndarray) -> np.ndarray:
  """The ICV of N demonstrations: [N, layers, E] last-token states of the
  inputs and of the outputs -> [layers, E], the unit first principal
  direction of the flattened differences (centred), signed along their
  mean."""
  h_x, h_y = np.asarray(h_x, np.float64), np.asarray(h_y, np.float64)
  if h_x.shape != h_y.shape or h_x.ndim != 3 or h_x.shape[0] < 2:
    raise ValueError(f"icv_from_demos: h_x and h_y must be the same "
                     f"[N >= 2, layers, E], got {h_x.shape} and {h_y.shape}")
  deltas = (h_y - h_x).reshape(len(h_x), -1)
  mean = deltas.mean(0)
  _, _, vt = np.linalg.svd(deltas - mean, full_matrices=False)
  direction = vt[0] if vt[0] @ mean >= 0 else -vt[0]
  return direction.reshape(h_x.shape[1:]).astype(np.float32)


@dataclasses.dataclass(frozen=True)
class IcvConfig:
  """Attributes:

    lm: the frozen decoder (the trained target's config).
    encoder_layers: the decoder's first blocks copied into the encoder.
    projector_hidden: the MLP's hidden width.
    strength: lambda of the operator.
    alpha_start: alpha at step 0 (1: the paper's schedule; 0: L_gen only).
    alpha_steps: steps over which alpha falls linearly to 0.
    context_len, continuation_len: tokens of context and of the text after.
    target, smoke_target: the decoder (`train.store.lm`).
  """

  lm: DecoderConfig = arc_encoder.TEXT_LM
  encoder_layers: int = 2
  projector_hidden: int = 512
  strength: float = 1.0  # ours
  alpha_start: float = 1.0
  alpha_steps: int = 1000
  context_len: int = arc_encoder.CONTEXT
  continuation_len: int = arc_encoder.CONTINUATION
  target: str = "text"
  smoke_target: bool = False

  def __post_init__(self):
    if not math.isfinite(self.strength):
      raise ValueError(f"IcvConfig: strength (lambda) must be finite, got "
                       f"{self.strength}")
    if not 0 <= self.alpha_start <= 1:  # also refuses nan
      raise ValueError(f"IcvConfig: alpha_start must be in [0, 1], got "
                       f"{self.alpha_start}")
    if self.alpha_steps < 1:
      raise ValueError(f"IcvConfig: alpha_steps must be >= 1, got "
                       f"{self.alpha_steps}")
    if not 1 <= self.encoder_layers <= self.lm.num_layers:
      raise ValueError(f"IcvConfig: encoder_layers must be in [1, "
                       f"lm.num_layers={self.lm.num_layers}], got "
                       f"{self.encoder_layers}")

  def alpha(self, step):
    """alpha at `step` (an int or a traced scalar)."""
    return self.alpha_start * jnp.clip(1 - step / self.alpha_steps, 0, 1)


class Icv(nn.Module):
  """The frozen decoder (`lm`) and the trained compressor (`encoder`)."""

  cfg: IcvConfig

  def setup(self):
    cfg = self.cfg
    self.lm = DecoderLM(cfg.lm)
    self.encoder = arc_encoder.Compressor(
        cfg.lm, cfg.encoder_layers, cfg.context_len, False,
        cfg.projector_hidden, cfg.lm.num_layers * cfg.lm.embed_dim)

  def vectors(self, context: jax.Array) -> jax.Array:
    """[B, L] context ids -> [B, layers, E], one vector per layer."""
    v = self.encoder(context)  # [B, 1, layers * E]: one group
    return v.reshape(len(context), self.cfg.lm.num_layers, -1)

  def shifted_nll(self, vectors: jax.Array, targets: jax.Array
                  ) -> jax.Array:
    """[B] NLL of targets [B, T] after <bos>, the decoder shifted by
    vectors [B, layers, E]."""
    lm = self.cfg.lm
    if vectors.shape != (targets.shape[0], lm.num_layers, lm.embed_dim):
      raise ValueError(f"Icv: vectors must be [B={targets.shape[0]}, "
                       f"layers={lm.num_layers}, E={lm.embed_dim}], got "
                       f"{vectors.shape}")
    shift = lambda i, x: icv_shift(x, vectors[:, i], self.cfg.strength)
    return arc_encoder.prefix_nll(
        self.lm, arc_encoder.bos_prefix(self.lm, len(targets)), targets,
        shift)

  def nll(self, context: jax.Array, targets: jax.Array,
          feed: str = "vectors") -> jax.Array:
    """[B] NLL of targets [B, T] after the context [B, L] fed as `feed`
    ("last": its last `LAST_TOKENS`, as ARC-Encoder's x = 4 vectors)."""
    if feed == "vectors":
      return self.shifted_nll(self.vectors(context), targets)
    if feed not in arc_encoder.FEEDS:
      raise ValueError(f"Icv: feed must be one of {arc_encoder.FEEDS}, got "
                       f"{feed!r}")
    return arc_encoder.prefix_nll(self.lm, arc_encoder.text_prefix(
        self.lm, context, feed, LAST_TOKENS), targets)

  def context_deltas(self, context: jax.Array, targets: jax.Array
                     ) -> jax.Array:
    """[B, layers, E]: the frozen decoder's block outputs with the context
    in the prompt minus with <bos> alone, averaged over the positions that
    predict `targets` [B, T] (L_cos's target)."""
    means = []
    for prefix in (self.lm.embed(context),
                   arc_encoder.bos_prefix(self.lm, len(context))):
      states = []

      def record(i, x, states=states):
        states.append(x)
        return x

      arc_encoder.prefix_nll(self.lm, prefix, targets, record)
      start = prefix.shape[1] - 1
      means.append(jnp.stack([s[:, start:].astype(jnp.float32).mean(1)
                              for s in states], 1))
    return jax.lax.stop_gradient(means[0] - means[1])

  def __call__(self, context, targets, feed="vectors"):
    return self.nll(context, targets, feed)


def build(cfg: IcvConfig) -> Icv:
  return Icv(cfg)


SYSTEM = registry.System(
    name="icv",
    family="retrieval",
    paper="Efficient Knowledge Feeding to Language Models: A Novel "
          "Integrated Encoder-Decoder Architecture (in-context vectors)",
    summary="An encoder turns a 128-token context into one in-context "
            "vector per layer of the frozen text LM (Liu et al.'s "
            "norm-keeping shift), trained with alpha L_cos + (1-alpha) L_gen.",
    default_config=IcvConfig,
    builder=build,
    configs=("train.configs.icv:get_config",),
    task="train.tasks.icv:TASK",
    claim="eval.claims.icv:check",
    datasets=("train.data.builders.stdlib_bpe:StdlibTextBpe",),
)
