"""Rigid transforms (residue frames) as rotation matrices and translations.

A `Rigid` maps local coordinates to global ones, x -> R x + t. Frames of
residues are built from the backbone atoms N, CA, C by Gram-Schmidt
(AlphaFold's convention: origin at CA, x axis along CA -> C, N in the xy
plane with positive y); updates arrive as quaternions (AlphaFold's backbone
update: (1, b, c, d) normalised) and are composed on the right. Rotations are
kept as matrices so that compose, invert and apply are matrix products.

Shapes: rot [..., 3, 3], trans [..., 3]; every function broadcasts over the
leading axes.
"""

import math
from typing import NamedTuple

import jax
import numpy as np
from jax import numpy as jnp

# Engh & Huber (1991) ideal backbone geometry, Angstrom and degrees.
BOND_N_CA, BOND_CA_C, BOND_C_N = 1.458, 1.525, 1.329
ANGLE_N_CA_C, ANGLE_CA_C_N, ANGLE_C_N_CA = 111.2, 116.2, 121.7
ANGSTROM_PER_NM = 10.0


class Rigid(NamedTuple):
  """x -> rot @ x + trans. rot [..., 3, 3], trans [..., 3]."""

  rot: jax.Array
  trans: jax.Array


def identity(shape: tuple[int, ...], dtype=jnp.float32) -> Rigid:
  """Identity frames of batch shape `shape`."""
  rot = jnp.broadcast_to(jnp.eye(3, dtype=dtype), (*shape, 3, 3))
  return Rigid(rot, jnp.zeros((*shape, 3), dtype))


def compose(a: Rigid, b: Rigid) -> Rigid:
  """a o b: apply b, then a."""
  return Rigid(a.rot @ b.rot,
               jnp.einsum("...ij,...j->...i", a.rot, b.trans) + a.trans)


def invert(a: Rigid) -> Rigid:
  """The inverse frame: x -> R^T (x - t)."""
  rot_t = jnp.swapaxes(a.rot, -1, -2)
  return Rigid(rot_t, -jnp.einsum("...ij,...j->...i", rot_t, a.trans))


def apply(a: Rigid, x: jax.Array) -> jax.Array:
  """a(x) for points x [..., 3] (broadcast against a's batch shape)."""
  return jnp.einsum("...ij,...j->...i", a.rot, x) + a.trans


def apply_inverse(a: Rigid, x: jax.Array) -> jax.Array:
  """a^-1(x) = R^T (x - t), without forming the inverse."""
  return jnp.einsum("...ji,...j->...i", a.rot, x - a.trans)


def relative(a: Rigid) -> Rigid:
  """T_i^-1 o T_j for every pair: [..., L] frames -> [..., L, L]."""
  inv = invert(a)
  return compose(
      Rigid(inv.rot[..., :, None, :, :], inv.trans[..., :, None, :]),
      Rigid(a.rot[..., None, :, :, :], a.trans[..., None, :, :]))


def quaternion_to_rotation(q: jax.Array) -> jax.Array:
  """Unit quaternions (w, x, y, z) [..., 4] -> rotations [..., 3, 3]."""
  w, x, y, z = jnp.moveaxis(q, -1, 0)
  rows = [
      [1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)],
      [2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)],
      [2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)],
  ]
  return jnp.stack([jnp.stack(r, -1) for r in rows], -2)


def quaternion_update(frames: Rigid, update: jax.Array) -> Rigid:
  """Composes a backbone update [..., 6] = (b, c, d, tx, ty, tz) on the right.

  The rotation is the unit quaternion (1, b, c, d) / |(1, b, c, d)|, so a
  zero update is the identity and any update is a proper rotation; the
  translation is in the frame's local coordinates. The composed rotation is
  re-orthonormalised (Gram-Schmidt on its first two columns, which commutes
  with rotations), so float32 rounding does not build up over blocks.
  """
  ones = jnp.ones_like(update[..., :1])
  q = jnp.concatenate([ones, update[..., :3]], -1)
  q = q / jnp.linalg.norm(q, axis=-1, keepdims=True)
  out = compose(frames, Rigid(quaternion_to_rotation(q), update[..., 3:]))
  return Rigid(gram_schmidt(out.rot[..., 0], out.rot[..., 1]), out.trans)


def gram_schmidt(u1: jax.Array, u2: jax.Array) -> jax.Array:
  """The rotation [..., 3, 3] with columns e1 = u1 / |u1|, e2 = the part of
  u2 orthogonal to e1, normalised, and e3 = e1 x e2 (u1, u2 [..., 3])."""
  e1 = u1 / jnp.linalg.norm(u1, axis=-1, keepdims=True)
  e2 = u2 - jnp.sum(e1 * u2, -1, keepdims=True) * e1
  e2 = e2 / jnp.linalg.norm(e2, axis=-1, keepdims=True)
  return jnp.stack([e1, e2, jnp.cross(e1, e2)], -1)


def from_three_points(n: jax.Array, ca: jax.Array, c: jax.Array) -> Rigid:
  """Residue frames from backbone atoms [..., 3] by Gram-Schmidt.

  Origin CA; e1 along CA -> C; e2 the part of CA -> N orthogonal to e1;
  e3 = e1 x e2. The columns of rot are e1, e2, e3.
  """
  return Rigid(gram_schmidt(c - ca, n - ca), ca)


def ideal_backbone(unit: float = ANGSTROM_PER_NM) -> np.ndarray:
  """N, CA, C [3, 3] in a residue's own frame (ideal geometry), in nm by
  default (`unit` = Angstrom per unit; 1 gives Angstrom)."""
  angle = math.radians(ANGLE_N_CA_C)
  n = BOND_N_CA * np.array([math.cos(angle), math.sin(angle), 0.0])
  return np.stack([n, np.zeros(3), [BOND_CA_C, 0.0, 0.0]]) / unit


def backbone_atoms(frames: Rigid) -> jax.Array:
  """Ideal N, CA, C [..., 3, 3] placed by frames [...] (nm)."""
  local = jnp.asarray(ideal_backbone(), frames.trans.dtype)
  return apply(Rigid(frames.rot[..., None, :, :], frames.trans[..., None, :]),
               local)


def axis_angle_to_rotation(axis: jax.Array, angle: jax.Array) -> jax.Array:
  """Rotations [..., 3, 3] by `angle` [...] about unit `axis` [..., 3]."""
  half = angle[..., None] / 2
  return quaternion_to_rotation(
      jnp.concatenate([jnp.cos(half), jnp.sin(half) * axis], -1))


def perturb(key: jax.Array, frames: Rigid, rot_sigma: float,
            trans_sigma: float) -> Rigid:
  """Per-frame noise: a rotation by |N(0, rot_sigma)| rad about a uniform
  axis (ours, not IGSO(3)), composed on the left about the frame's own
  origin, and N(0, trans_sigma^2) per coordinate added to the translation
  (same units as `frames`)."""
  k_axis, k_angle, k_trans = jax.random.split(key, 3)
  shape = frames.trans.shape[:-1]
  dtype = frames.trans.dtype
  axis = jax.random.normal(k_axis, (*shape, 3), dtype)
  axis = axis / jnp.linalg.norm(axis, axis=-1, keepdims=True)
  angle = jnp.abs(rot_sigma * jax.random.normal(k_angle, shape, dtype))
  noise = axis_angle_to_rotation(axis, angle)
  trans = frames.trans + trans_sigma * jax.random.normal(
      k_trans, (*shape, 3), dtype)
  return Rigid(noise @ frames.rot, trans)


def check_rotations(rot, argument: str, atol: float = 1e-3) -> None:
  """Raises ValueError naming `argument` unless rot [..., 3, 3] holds proper
  rotations (R^T R = I and det R = +1 within `atol`). Traced arrays (inside
  jit) cannot be checked and pass."""
  if isinstance(rot, jax.core.Tracer):
    return
  rot = np.asarray(rot, np.float64)
  if rot.shape[-2:] != (3, 3):
    raise ValueError(f"{argument}: rotations must be [..., 3, 3], got shape "
                     f"{rot.shape}")
  if not rot.size:
    return
  with np.errstate(invalid="ignore"):  # NaN rotations are reported below
    gram = np.swapaxes(rot, -1, -2) @ rot
    error = float(np.max(np.abs(gram - np.eye(3))))
    det_error = float(np.max(np.abs(np.linalg.det(rot) - 1)))
  if not (error <= atol and det_error <= atol):  # NaN fails too
    raise ValueError(
        f"{argument}: frames must be orthonormal with det +1 (max |R^T R - I|"
        f" = {error:.3g}, max |det R - 1| = {det_error:.3g}, tolerance "
        f"{atol:g})")
