"""Rotary position embeddings (RoFormer), half-split layout."""

from jax import numpy as jnp


def apply_rope(x, positions, base: float = 10_000.0):
  """Rotates feature pairs (i, i + D/2) by position-dependent angles.

  Args:
    x: [B, T, H, D] with even D.
    positions: [B, T] integer positions.
    base: wavelength base.

  Returns:
    x rotated, same shape and dtype.
  """
  d = x.shape[-1]
  if d % 2:
    raise ValueError(f"apply_rope: head dim must be even, got {d}")
  freq = base ** (-jnp.arange(0, d // 2, dtype=jnp.float32) / (d // 2))
  angle = positions.astype(jnp.float32)[..., None, None] * freq  # [B,T,1,D/2]
  cos, sin = jnp.cos(angle), jnp.sin(angle)
  x1, x2 = jnp.split(x.astype(jnp.float32), 2, axis=-1)
  out = jnp.concatenate([x1 * cos - x2 * sin, x2 * cos + x1 * sin], axis=-1)
  return out.astype(x.dtype)
