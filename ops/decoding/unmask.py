"""Which masked positions a masked-diffusion decoding step fills in.

    transfer = select(rule, stats, masked)        # [B, N] bool

`stats` are the `ops.vocab_reduce` statistics of the N positions of the
active block; `masked` [B, N] marks the positions still holding the mask
token. Every rule returns a subset of `masked`, and at least one position in
every row that has any (the most confident one when nothing else
qualifies), so a decoding loop always makes progress. Ties break to the
lowest position.

Rules (`UnmaskRule.kind`):
  confidence, margin, entropy, random: the k best positions by probability
    of the prediction, top-1 minus top-2 probability, lowest entropy, or a
    random score (k tokens per step; k = 1 is LLaDA's one token per step).
  threshold: every position with confidence >= threshold (Fast-dLLM).
  factor: the n most confident, n the longest run of the sorted
    confidences with c_(n) >= 1 - factor / (n + 1) (Fast-dLLM).
  localleap: anchors are positions with confidence >= threshold; within
    `radius` positions of an anchor, relaxed_threshold suffices (LocalLeap).
  filter: positions flagged by `accept`, here a learned filter's verdict
    (Learn2PD).
  reference: positions flagged by `accept`, here "the prediction equals a
    reference" (the oracle that labels Learn2PD's training data).
"""

import dataclasses
from typing import Literal

import jax
from jax import numpy as jnp

from ops.vocab import VocabStats

Kind = Literal["confidence", "margin", "entropy", "random", "threshold",
               "factor", "localleap", "filter", "reference"]
TOP_K_KINDS = ("confidence", "margin", "entropy", "random")
KINDS = TOP_K_KINDS + ("threshold", "factor", "localleap", "filter",
                       "reference")


@dataclasses.dataclass(frozen=True)
class UnmaskRule:
  """A selection rule and its settings (hashable: a static jit argument).

  Attributes:
    kind: one of `KINDS`, see the module docstring.
    k: tokens per step of the top-k kinds.
    threshold: confidence threshold (threshold; localleap's anchors) or the
      filter's probability threshold (filter).
    factor: the factor rule's f.
    relaxed_threshold: localleap's threshold near an anchor (<= threshold).
    radius: localleap's neighbourhood radius, in positions.
  """

  kind: Kind = "confidence"
  k: int = 1
  threshold: float = 0.9
  factor: float = 1.0
  relaxed_threshold: float = 0.75
  radius: int = 4

  def __post_init__(self):
    if self.kind not in KINDS:
      raise ValueError(f"UnmaskRule: kind must be one of {KINDS}, got "
                       f"{self.kind!r}")
    if self.k < 1:
      raise ValueError(f"UnmaskRule: k must be >= 1, got {self.k}")
    if self.radius < 0:
      raise ValueError(f"UnmaskRule: radius must be >= 0, got {self.radius}")
    if self.kind == "localleap" and self.relaxed_threshold > self.threshold:
      raise ValueError(f"UnmaskRule: relaxed_threshold="
                       f"{self.relaxed_threshold} exceeds threshold="
                       f"{self.threshold}")

  @property
  def needs_accept(self) -> bool:
    return self.kind in ("filter", "reference")

  def label(self) -> str:
    """A short name with the setting that matters, e.g. "threshold=0.9"."""
    setting = {"threshold": f"={self.threshold:g}",
               "factor": f"={self.factor:g}",
               "localleap": f"={self.threshold:g}/{self.relaxed_threshold:g}"
                            f"/r{self.radius}",
               "filter": f"={self.threshold:g}"}.get(self.kind, "")
    if self.kind in TOP_K_KINDS:
      setting = f"@{self.k}"
    return self.kind + setting


def rank(score, masked) -> jax.Array:
  """[B, N] int32: 0 for the best-scoring masked position, 1 the next, ...

  Unmasked positions rank after every masked one; ties go to the lowest
  position.
  """
  order = jnp.argsort(jnp.where(masked, -score, jnp.inf), axis=-1,
                      stable=True)
  return jnp.argsort(order, axis=-1).astype(jnp.int32)


def _near_anchor(anchor, radius: int) -> jax.Array:
  """[B, N] bool: within `radius` positions of an anchor (dilation)."""
  n = anchor.shape[-1]
  offsets = jnp.arange(n)
  window = jnp.abs(offsets[:, None] - offsets[None, :]) <= radius  # [N, N]
  return jnp.any(anchor[:, None, :] & window[None], axis=-1)


def select(rule: UnmaskRule, stats: VocabStats, masked, *, key=None,
           accept=None) -> jax.Array:
  """The positions a step decodes; see the module docstring.

  Args:
    rule: the selection rule.
    stats: `vocab_reduce` statistics with [B, N] fields (`confidence`, the
      probability of the token that would be written; `margin`; `entropy`).
    masked: [B, N] bool, positions still masked.
    key: PRNG key, for kind "random".
    accept: [B, N] bool, for kinds "filter" and "reference".

  Returns:
    [B, N] bool, a subset of `masked` with >= 1 entry per row that has any.
  """
  masked = jnp.asarray(masked, jnp.bool_)
  conf = stats.confidence
  if masked.ndim != 2 or conf.shape != masked.shape:
    raise ValueError(f"select: masked must be bool [B, N] like "
                     f"stats.confidence {conf.shape}, got {masked.shape}")
  if rule.kind == "random" and key is None:
    raise ValueError("select: kind 'random' needs a key")
  if rule.needs_accept and (accept is None or accept.shape != masked.shape):
    raise ValueError(f"select: kind {rule.kind!r} needs accept [B, N] = "
                     f"{masked.shape}, got "
                     f"{None if accept is None else accept.shape}")
  if rule.kind in TOP_K_KINDS:
    score = {"confidence": lambda: conf,
             "margin": lambda: stats.margin,
             "entropy": lambda: -stats.entropy,
             "random": lambda: jax.random.uniform(key, conf.shape)}[rule.kind]()
    return masked & (rank(score, masked) < rule.k)
  by_confidence = rank(conf, masked)
  most_confident = masked & (by_confidence == 0)
  if rule.kind == "factor":
    n = jnp.arange(1, conf.shape[-1] + 1)
    ordered = jnp.sort(jnp.where(masked, conf, -jnp.inf), axis=-1)[:, ::-1]
    passes = ordered >= 1.0 - rule.factor / (n + 1)
    count = jnp.sum(jnp.cumprod(passes, axis=-1), axis=-1, keepdims=True)
    return masked & (by_confidence < jnp.maximum(count, 1))
  if rule.kind == "threshold":
    chosen = conf >= rule.threshold
  elif rule.kind == "localleap":
    anchor = masked & (conf >= rule.threshold)
    bar = jnp.where(_near_anchor(anchor, rule.radius),
                    rule.relaxed_threshold, rule.threshold)
    chosen = conf >= bar
  else:  # filter, reference
    chosen = accept
  return masked & chosen | most_confident
