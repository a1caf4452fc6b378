"""Residue frames: compose, invert and apply agree with matrix algebra,
frames from three points are proper rotations placing the atoms, quaternion
updates stay orthonormal, and the rotation check names its argument."""

import jax
import numpy as np
import pytest
from jax import numpy as jnp

from zoo.protein import rigid


def random_rigid(key, shape, dtype=jnp.float32) -> rigid.Rigid:
  k_q, k_t = jax.random.split(key)
  q = jax.random.normal(k_q, (*shape, 4), dtype)
  q = q / jnp.linalg.norm(q, axis=-1, keepdims=True)
  return rigid.Rigid(rigid.quaternion_to_rotation(q),
                     jax.random.normal(k_t, (*shape, 3), dtype))


def homogeneous(a: rigid.Rigid) -> np.ndarray:
  """[..., 4, 4] matrices of the frames (float64)."""
  out = np.zeros(a.rot.shape[:-2] + (4, 4))
  out[..., :3, :3] = a.rot
  out[..., :3, 3] = a.trans
  out[..., 3, 3] = 1
  return out


def test_rotations_are_orthonormal_with_det_one():
  r = random_rigid(jax.random.key(0), (50,)).rot
  np.testing.assert_allclose(np.swapaxes(r, -1, -2) @ r,
                             np.broadcast_to(np.eye(3), r.shape), atol=1e-6)
  np.testing.assert_allclose(np.linalg.det(r), 1, atol=1e-6)


def test_compose_invert_apply_match_homogeneous_matrices():
  a, b = (random_rigid(k, (7,)) for k in jax.random.split(jax.random.key(1)))
  x = jax.random.normal(jax.random.key(2), (7, 3))
  np.testing.assert_allclose(homogeneous(rigid.compose(a, b)),
                             homogeneous(a) @ homogeneous(b), atol=1e-5)
  np.testing.assert_allclose(homogeneous(rigid.invert(a)),
                             np.linalg.inv(homogeneous(a)), atol=1e-5)
  expected = (homogeneous(a) @ np.concatenate([x, np.ones((7, 1))], -1)[
      ..., None])[..., :3, 0]
  np.testing.assert_allclose(rigid.apply(a, x), expected, atol=1e-5)
  np.testing.assert_allclose(rigid.apply_inverse(a, rigid.apply(a, x)), x,
                             atol=1e-5)


def test_relative_transforms_are_invariant_to_a_global_transform():
  with jax.enable_x64(True):
    frames = random_rigid(jax.random.key(3), (2, 6), jnp.float64)
    g = random_rigid(jax.random.key(4), (), jnp.float64)
    moved = rigid.compose(
        rigid.Rigid(g.rot[None, None], g.trans[None, None]), frames)
    for x, y in zip(rigid.relative(frames), rigid.relative(moved)):
      np.testing.assert_allclose(x, y, atol=1e-10)
    ij = rigid.relative(frames)
    expected = rigid.compose(rigid.invert(
        rigid.Rigid(frames.rot[0, 1], frames.trans[0, 1])),
        rigid.Rigid(frames.rot[0, 4], frames.trans[0, 4]))
    np.testing.assert_allclose(ij.rot[0, 1, 4], expected.rot, atol=1e-12)
    np.testing.assert_allclose(ij.trans[0, 1, 4], expected.trans, atol=1e-12)


def test_frames_from_three_points_place_the_ideal_atoms():
  frames = random_rigid(jax.random.key(5), (9,))
  atoms = rigid.backbone_atoms(frames)  # [9, 3 atoms, 3]
  rebuilt = rigid.from_three_points(atoms[:, 0], atoms[:, 1], atoms[:, 2])
  np.testing.assert_allclose(rebuilt.rot, frames.rot, atol=1e-5)
  np.testing.assert_allclose(rebuilt.trans, frames.trans, atol=1e-6)
  local = rigid.ideal_backbone(unit=1.0)
  assert abs(np.linalg.norm(local[0]) - rigid.BOND_N_CA) < 1e-12
  assert abs(np.linalg.norm(local[2]) - rigid.BOND_CA_C) < 1e-12
  cosine = local[0] @ local[2] / rigid.BOND_N_CA / rigid.BOND_CA_C
  assert abs(np.degrees(np.arccos(cosine)) - rigid.ANGLE_N_CA_C) < 1e-9


def test_from_three_points_is_right_handed_for_any_points():
  n, ca, c = jax.random.normal(jax.random.key(6), (3, 20, 3))
  rot = rigid.from_three_points(n, ca, c).rot
  np.testing.assert_allclose(np.linalg.det(rot), 1, atol=1e-5)
  rigid.check_rotations(rot, "rot", atol=1e-5)


def test_quaternion_update_keeps_rotations_orthonormal():
  frames = random_rigid(jax.random.key(7), (200,))
  for i in range(20):  # more than any trunk's blocks
    update = 3 * jax.random.normal(jax.random.key(8 + i), (200, 6))
    frames = rigid.quaternion_update(frames, update)
  r = np.asarray(frames.rot, np.float64)
  np.testing.assert_allclose(np.swapaxes(r, -1, -2) @ r,
                             np.broadcast_to(np.eye(3), r.shape), atol=1e-6)
  np.testing.assert_allclose(np.linalg.det(r), 1, atol=1e-6)


def test_zero_update_is_the_identity_and_translation_is_local():
  frames = random_rigid(jax.random.key(20), (5,))
  same = rigid.quaternion_update(frames, jnp.zeros((5, 6)))
  np.testing.assert_allclose(same.rot, frames.rot, atol=1e-6)
  step = jnp.zeros((5, 6)).at[:, 3].set(1.0)
  moved = rigid.quaternion_update(frames, step)
  np.testing.assert_allclose(moved.trans - frames.trans, frames.rot[..., 0],
                             atol=1e-6)


def test_perturb_rotates_by_the_drawn_angle_and_keeps_frames_proper():
  frames = random_rigid(jax.random.key(9), (4000,))
  noisy = rigid.perturb(jax.random.key(10), frames, 0.3, 1.0)
  delta = np.asarray(noisy.rot @ np.swapaxes(frames.rot, -1, -2), np.float64)
  angle = np.arccos(np.clip((np.trace(delta, axis1=-2, axis2=-1) - 1) / 2,
                            -1, 1))
  # |N(0, 0.3)| has mean 0.3 sqrt(2 / pi); translations N(0, 1) each.
  assert abs(angle.mean() - 0.3 * np.sqrt(2 / np.pi)) < 0.01
  shift = np.asarray(noisy.trans - frames.trans)
  assert abs(shift.std() - 1.0) < 0.03 and abs(shift.mean()) < 0.03
  rigid.check_rotations(noisy.rot, "rot", atol=1e-5)


@pytest.mark.parametrize("bad", ["scaled", "reflected", "nan"])
def test_check_rotations_names_the_argument(bad):
  rot = np.tile(np.eye(3), (4, 1, 1))
  if bad == "scaled":
    rot[2] *= 1.1
  elif bad == "reflected":
    rot[1, 0, 0] = -1
  else:
    rot[3, 1, 1] = np.nan
  with pytest.raises(ValueError, match="frames_in: frames must be "
                     "orthonormal"):
    rigid.check_rotations(rot, "frames_in")
