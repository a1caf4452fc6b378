"""Rotary position embeddings (RoFormer), half-split layout.

The half-split layout (pairs `(i, i + D/2)`) is the one Hugging Face's
Llama, Qwen2 and GPT-NeoX checkpoints use; the frequency schedules of the
scaled variants are the kinds of `zoo.layers.positions`.
"""

import jax
from jax import numpy as jnp


def rope_frequencies(head_dim: int, base: float = 10_000.0) -> jax.Array:
  """[D/2] f32 angular frequencies `base ** (-2i / D)`."""
  half = head_dim // 2
  return base ** (-jnp.arange(0, half, dtype=jnp.float32) / half)


def apply_rope(x, positions, base: float = 10_000.0, *, frequencies=None):
  """Rotates feature pairs (i, i + D/2) by position-dependent angles.

  Args:
    x: [B, T, H, D] with even D.
    positions: [B, T] integer positions.
    base: wavelength base (unused when `frequencies` is given).
    frequencies: optional [D/2] angular frequencies, default
      `rope_frequencies(D, base)`.

  Returns:
    x rotated, same shape and dtype.
  """
  d = x.shape[-1]
  if d % 2:
    raise ValueError(f"apply_rope: head dim must be even, got {d}")
  freq = rope_frequencies(d, base) if frequencies is None else frequencies
  angle = positions.astype(jnp.float32)[..., None, None] * freq  # [B,T,1,D/2]
  cos, sin = jnp.cos(angle), jnp.sin(angle)
  x1, x2 = jnp.split(x.astype(jnp.float32), 2, axis=-1)
  out = jnp.concatenate([x1 * cos - x2 * sin, x2 * cos + x1 * sin], axis=-1)
  return out.astype(x.dtype)
