"""Training losses shared by the perception and science systems.

`info_nce` is CLIP's contrastive loss with a learnable temperature: the
logits are the cosine similarities of every row of `a` with every row of `b`,
times `exp(log_scale)` capped at `MAX_SCALE`; row i of `a` is paired with
row i of `b`. `sigmoid_bce` is the numerically stable binary cross-entropy
on logits. `ssim` is the structural similarity of image pairs (Gaussian
window). All are plain jnp (small, memory-bound: XLA fuses them well), so
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


def dice_loss(logits: jax.Array, labels: jax.Array,
              smooth: float = 1.0) -> jax.Array:
  """Soft Dice loss of mask logits against labels in [0, 1] (V-Net's, as
  Mask2Former uses it): 1 - (2 sum p y + s) / (sum p + sum y + s), with
  p = sigmoid(logits) and the sums over the last axis (the pixels).

  Args:
    logits: [..., P] mask logits.
    labels: [..., P] targets; broadcasts against logits (pairwise costs).
    smooth: s > 0, keeps empty masks finite (both empty: loss 0).

  Returns:
    [...] float32, in [0, 1).
  """
  logits, labels = jnp.asarray(logits), jnp.asarray(labels)
  if logits.ndim < 1 or labels.ndim < 1 or (
      logits.shape[-1] != labels.shape[-1]):
    raise ValueError(f"dice_loss: logits {logits.shape} and labels "
                     f"{labels.shape} need one last (pixel) axis")
  if not smooth > 0:
    raise ValueError(f"dice_loss: smooth must be > 0, got {smooth}")
  p = jax.nn.sigmoid(logits.astype(jnp.float32))
  y = labels.astype(jnp.float32)
  overlap = jnp.sum(p * y, axis=-1)
  total = jnp.sum(p, axis=-1) + jnp.sum(y, axis=-1)
  return 1.0 - (2.0 * overlap + smooth) / (total + smooth)


# SSIM's stabilising constants, (K L)^2 for data range L (Wang et al. 2004).
SSIM_K1, SSIM_K2 = 0.01, 0.03


def _gaussian_band(size: int, window: int, sigma: float) -> jax.Array:
  """[size - window + 1, size]: row i is the normalised Gaussian window at
  offset i, so `band @ x` is the valid filtering of x along one axis."""
  taps = jnp.exp(-0.5 * ((jnp.arange(window) - (window - 1) / 2) / sigma)**2)
  taps = taps / taps.sum()
  rows = jnp.arange(size - window + 1)[:, None]
  offset = jnp.arange(size)[None, :] - rows
  inside = (offset >= 0) & (offset < window)
  return jnp.where(inside, taps[jnp.clip(offset, 0, window - 1)], 0.0)


def ssim(x: jax.Array, y: jax.Array, max_value: float = 1.0,
         window: int = 11, sigma: float = 1.5) -> jax.Array:
  """Structural similarity of image pairs, the mean of the SSIM map.

  SSIM = (2 mu_x mu_y + C1)(2 cov_xy + C2) / ((mu_x^2 + mu_y^2 + C1)
  (var_x + var_y + C2)), with local statistics under a Gaussian window
  (`window` taps, std `sigma`) at every valid position of each channel,
  C1 = (0.01 max_value)^2, C2 = (0.03 max_value)^2. SSIM(x, x) = 1.

  Args:
    x: [batch, height, width, channels] images.
    y: images of the same shape.
    max_value: the data range (1 for images in [0, 1]).
    window: Gaussian window side; at most height and width.
    sigma: the window's standard deviation in pixels.

  Returns:
    [batch] float32, each image's mean SSIM over positions and channels.
  """
  x, y = jnp.asarray(x, jnp.float32), jnp.asarray(y, jnp.float32)
  if x.ndim != 4 or x.shape != y.shape:
    raise ValueError(f"ssim: x and y must both be [batch, height, width, "
                     f"channels] of one shape, got {x.shape} and {y.shape}")
  if not 1 <= window <= min(x.shape[1:3]):
    raise ValueError(f"ssim: window {window} must be in [1, min(height, "
                     f"width)] = [1, {min(x.shape[1:3])}]")
  if sigma <= 0 or max_value <= 0:
    raise ValueError(f"ssim: sigma and max_value must be > 0, got {sigma} "
                     f"and {max_value}")
  rows = _gaussian_band(x.shape[1], window, sigma)
  cols = _gaussian_band(x.shape[2], window, sigma)
  blur = lambda z: jnp.einsum("ih,bhwc,jw->bijc", rows, z, cols)
  mu_x, mu_y = blur(x), blur(y)
  var_x = blur(x * x) - mu_x**2
  var_y = blur(y * y) - mu_y**2
  cov = blur(x * y) - mu_x * mu_y
  c1, c2 = (SSIM_K1 * max_value)**2, (SSIM_K2 * max_value)**2
  index = ((2 * mu_x * mu_y + c1) * (2 * cov + c2)
           / ((mu_x**2 + mu_y**2 + c1) * (var_x + var_y + c2)))
  return index.mean(axis=(1, 2, 3))
