"""Training losses shared by the perception and science systems.

`info_nce` is CLIP's contrastive loss with a learnable temperature: the
logits are the cosine similarities of every row of `a` with every row of `b`,
times `exp(log_scale)` capped at `MAX_SCALE`; row i of `a` is paired with
row i of `b`. `sigmoid_bce` is the numerically stable binary cross-entropy
on logits. Both are plain jnp (small, memory-bound: XLA fuses them well), so
they have no kernel and no dispatch.
"""

import math

import jax
from jax import numpy as jnp

# CLIP's temperature at initialisation (1 / 0.07) and the cap on the scale.
LOG_SCALE_INIT = math.log(1.0 / 0.07)
MAX_SCALE = 100.0


def _check_pair(a, b) -> None:
  if a.ndim != 2 or b.ndim != 2 or a.shape != b.shape:
    raise ValueError("info_nce: a and b must both be [batch, dim] of one "
                     f"shape, got {a.shape} and {b.shape}")
  if a.shape[0] < 1 or a.shape[1] < 1:
    raise ValueError(f"info_nce: a and b must be non-empty, got {a.shape}")


def info_nce(a: jax.Array, b: jax.Array, log_scale: jax.Array,
             symmetric: bool = True) -> jax.Array:
  """The InfoNCE (CLIP) loss of paired rows, a scalar.

  Args:
    a: [batch, dim] embeddings; row i is the positive of `b`'s row i.
    b: [batch, dim] embeddings.
    log_scale: scalar, the log of the logit scale (init `LOG_SCALE_INIT`);
      the scale is capped at `MAX_SCALE` (no gradient past the cap).
    symmetric: mean of the a->b and b->a cross-entropies; else a->b only
      (each row of `a` classifies its partner among all rows of `b`).

  Returns:
    The mean cross-entropy, float32.
  """
  a, b = jnp.asarray(a), jnp.asarray(b)
  _check_pair(a, b)
  log_scale = jnp.asarray(log_scale, jnp.float32)
  if log_scale.ndim != 0:
    raise ValueError(f"info_nce: log_scale must be a scalar, got shape "
                     f"{log_scale.shape}")
  scale = jnp.exp(jnp.minimum(log_scale, math.log(MAX_SCALE)))
  logits = scale * (_unit(a) @ _unit(b).T)  # [batch, batch]
  a_to_b = _diagonal_cross_entropy(logits)
  if not symmetric:
    return a_to_b
  return 0.5 * (a_to_b + _diagonal_cross_entropy(logits.T))


def _unit(x):
  x = x.astype(jnp.float32)
  return x / jnp.maximum(jnp.linalg.norm(x, axis=-1, keepdims=True), 1e-12)


def _diagonal_cross_entropy(logits):
  """Mean over rows of -log softmax(row)[i] for row i."""
  log_probs = jax.nn.log_softmax(logits, axis=-1)
  return -jnp.mean(jnp.diagonal(log_probs))


def sigmoid_bce(logits: jax.Array, labels: jax.Array) -> jax.Array:
  """Elementwise binary cross-entropy of `logits` against `labels` in [0, 1].

  Computed as max(x, 0) - x y + log(1 + exp(-|x|)), exact for any finite
  logit. Shapes must match; the result has that shape (callers reduce).
  """
  logits, labels = jnp.asarray(logits), jnp.asarray(labels)
  if logits.shape != labels.shape:
    raise ValueError(f"sigmoid_bce: logits {logits.shape} and labels "
                     f"{labels.shape} must have one shape")
  x = logits.astype(jnp.float32)
  y = labels.astype(jnp.float32)
  return jnp.maximum(x, 0.0) - x * y + jnp.log1p(jnp.exp(-jnp.abs(x)))
