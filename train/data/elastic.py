"""Elastic deformation of images (Simard, Steinkraus, Platt 2003), in jax so
a train task can draw it on device from the step's key.

Each pixel moves by a displacement field: uniform noise on [-1, 1] per pixel
and axis, smoothed by a Gaussian of width `sigma` (zero outside the image,
cut at 4 sigma, as `scipy.ndimage.gaussian_filter(mode="constant")`) and
scaled by `alpha` pixels; the image is resampled bilinearly there, reading 0
outside it (`scipy.ndimage.map_coordinates(order=1, mode="grid-constant")`;
the official PrototypeDL code's scipy "constant" mode instead blanks every
point that lands outside the pixel centres' hull).
"""

import math

import jax
from jax import numpy as jnp

# scipy.ndimage.gaussian_filter's default: the kernel stops at 4 sigma.
_TRUNCATE = 4.0


def gaussian_kernel(sigma: float) -> jax.Array:
  """The normalised 1-d Gaussian taps scipy uses, [2 r + 1]."""
  radius = int(_TRUNCATE * sigma + 0.5)
  x = jnp.arange(-radius, radius + 1, dtype=jnp.float32)
  taps = jnp.exp(-0.5 * (x / sigma) ** 2)
  return taps / jnp.sum(taps)


def smooth(fields: jax.Array, sigma: float) -> jax.Array:
  """Separable Gaussian blur with zero padding, [N, H, W] -> [N, H, W]."""
  taps = gaussian_kernel(sigma)
  pad = (len(taps) - 1) // 2
  blur = lambda v: jnp.convolve(jnp.pad(v, pad), taps, mode="valid")
  rows = jax.vmap(jax.vmap(blur))(fields)  # along W
  cols = jax.vmap(jax.vmap(blur))(rows.swapaxes(1, 2))  # along H
  return cols.swapaxes(1, 2)


def elastic_deform(images: jax.Array, noise: jax.Array, *, sigma: float,
                   alpha: float) -> jax.Array:
  """Deforms each image by its own displacement field.

  Args:
    images: [B, H, W] float.
    noise: [B, 2, H, W] in [-1, 1]: the raw row and column displacements.
    sigma: Gaussian width of the smoothing, in pixels (> 0).
    alpha: scale of the smoothed field, in pixels.

  Returns:
    [B, H, W], images[b] read bilinearly at (i + dy, j + dx).
  """
  if images.ndim != 3 or noise.shape != (images.shape[0], 2,
                                         *images.shape[1:]):
    raise ValueError(f"elastic_deform: images must be [B, H, W] and noise "
                     f"[B, 2, H, W], got {images.shape} and {noise.shape}")
  if not (sigma > 0 and math.isfinite(alpha)):
    raise ValueError(f"elastic_deform: need sigma > 0 and a finite alpha, "
                     f"got sigma={sigma}, alpha={alpha}")
  b, h, w = images.shape
  shift = alpha * smooth(noise.reshape(b * 2, h, w), sigma).reshape(
      b, 2, h, w)
  rows, cols = jnp.meshgrid(jnp.arange(h, dtype=images.dtype),
                            jnp.arange(w, dtype=images.dtype), indexing="ij")
  resample = lambda image, s: jax.scipy.ndimage.map_coordinates(
      image, (rows + s[0], cols + s[1]), order=1, mode="constant", cval=0.0)
  return jax.vmap(resample)(images, shift)


def random_elastic(key: jax.Array, images: jax.Array, *, sigma: float,
                   alpha: float) -> jax.Array:
  """`elastic_deform` with fresh uniform noise drawn from `key`."""
  noise = jax.random.uniform(key, (images.shape[0], 2, *images.shape[1:]),
                             images.dtype, -1.0, 1.0)
  return elastic_deform(images, noise, sigma=sigma, alpha=alpha)
