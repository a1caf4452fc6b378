"""Frame attention (VFN and IPA-lite) in a FrameNet: the symmetries the
paper relies on, on random weights and real backbone frames.

Invariance: node outputs, class logits and attention weights do not move
under a random global rigid transform G of the input frames (1e-5 in
float32, 1e-10 in float64); equivariance: output frames f(G T) = G f(T)
(translations, a few nm, within 10x that); output rotations are proper
(1e-6); masked residues change nothing; IPA-lite's net has VFN's parameter
count within 5%; non-orthonormal frames are refused naming the argument.
"""

import jax
import numpy as np
import pytest
from jax import numpy as jnp

from tests.zoo.test_rigid import random_rigid
from train.data.builders import peptide_backbones
from zoo.protein import frame_net, rigid
from zoo.protein.attention.ipa_lite import IPALiteConfig
from zoo.protein.attention.vfn import VecLinear, VFNAttentionConfig

KINDS = {"vfn": VFNAttentionConfig(), "ipa_lite": IPALiteConfig()}


def backbone_frames(num: int, dtype) -> rigid.Rigid:
  """Frames [num, 32] of the first dataset chains, in nm."""
  atoms = np.stack([peptide_backbones.generate(i)["backbone"]
                    for i in range(num)]) / rigid.ANGSTROM_PER_NM
  atoms = jnp.asarray(atoms, dtype)
  return rigid.from_three_points(atoms[..., 0, :], atoms[..., 1, :],
                                 atoms[..., 2, :])


def model_and_variables(kind: str, frames: rigid.Rigid, mask):
  model = frame_net.FrameNet(frame_net.FrameNetConfig(attention=KINDS[kind]))
  variables = model.init(jax.random.key(0), frames.rot, frames.trans, mask)
  # Backbone updates start at zero; random ones make the frames test bite.
  variables = jax.tree_util.tree_map_with_path(
      lambda path, x: (0.1 * jax.random.normal(jax.random.key(len(path)),
                                               x.shape, x.dtype)
                       if "backbone_update" in jax.tree_util.keystr(path)
                       else x), variables)
  return model, variables


def transformed(g: rigid.Rigid, frames: rigid.Rigid) -> rigid.Rigid:
  return rigid.compose(rigid.Rigid(g.rot[None, None], g.trans[None, None]),
                       frames)


def test_vec_linear_commutes_with_rotations():
  v = jax.random.normal(jax.random.key(1), (5, 7, 6, 3))
  layer = VecLinear(4)
  params = layer.init(jax.random.key(2), v)
  rot = random_rigid(jax.random.key(3), (5, 7)).rot  # one R per row
  rotate = lambda x: jnp.einsum("abij,abcj->abci", rot, x)
  np.testing.assert_allclose(layer.apply(params, rotate(v)),
                             rotate(layer.apply(params, v)), atol=1e-5)
  assert layer.apply(params, v).shape == (5, 7, 4, 3)
  assert len(jax.tree.leaves(params)) == 1  # no bias


@pytest.mark.parametrize("kind", sorted(KINDS))
@pytest.mark.parametrize("dtype,atol", [(jnp.float32, 1e-5),
                                        (jnp.float64, 1e-10)])
def test_outputs_invariant_and_frames_equivariant(kind, dtype, atol):
  with jax.enable_x64(dtype == jnp.float64):
    frames = backbone_frames(2, dtype)
    mask = jnp.ones(frames.trans.shape[:2], dtype)
    model, variables = model_and_variables(kind, frames, mask)
    variables = jax.tree.map(lambda x: x.astype(dtype), variables)
    g = random_rigid(jax.random.key(4), (), dtype)
    g = g._replace(trans=3 * g.trans)  # a few nm, like the chains
    out = model.apply(variables, frames.rot, frames.trans, mask)
    moved = transformed(g, frames)
    out_g = model.apply(variables, moved.rot, moved.trans, mask)
    for name in ("single", "logits", "attention"):
      np.testing.assert_allclose(getattr(out_g, name), getattr(out, name),
                                 atol=atol, err_msg=name)
    expected = transformed(g, out.frames)
    np.testing.assert_allclose(out_g.frames.rot, expected.rot, atol=atol)
    np.testing.assert_allclose(out_g.frames.trans, expected.trans,
                               atol=atol * 10)  # nm-sized translations
    # The frames did move: the test is not about an identity map.
    assert float(jnp.max(jnp.abs(out.frames.trans - frames.trans))) > 1e-3
    rot = np.asarray(out.frames.rot, np.float64)  # proper rotations
    np.testing.assert_allclose(np.swapaxes(rot, -1, -2) @ rot,
                               np.broadcast_to(np.eye(3), rot.shape),
                               atol=1e-6)
    np.testing.assert_allclose(np.linalg.det(rot), 1, atol=1e-6)


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_masked_residues_change_nothing(kind):
  frames = backbone_frames(2, jnp.float32)
  mask = jnp.ones((2, 32)).at[0, 5:9].set(0).at[1, 20:].set(0)
  model, variables = model_and_variables(kind, frames, mask)
  out = model.apply(variables, frames.rot, frames.trans, mask)
  other = random_rigid(jax.random.key(5), (2, 32))
  keep = mask[..., None] > 0
  changed = rigid.Rigid(jnp.where(keep[..., None], frames.rot, other.rot),
                        jnp.where(keep, frames.trans, 5 * other.trans))
  out_changed = model.apply(variables, changed.rot, changed.trans, mask)
  for name in ("single", "logits"):
    np.testing.assert_allclose(
        np.asarray(getattr(out_changed, name))[mask > 0],
        np.asarray(getattr(out, name))[mask > 0], atol=1e-5)
  np.testing.assert_allclose(np.asarray(out_changed.frames.trans)[mask > 0],
                             np.asarray(out.frames.trans)[mask > 0],
                             atol=1e-5)
  # No query attends to a masked key.
  assert float(jnp.max(out.attention * (1 - mask)[None, :, None, None])) == 0


def test_ipa_lite_has_the_vfn_net_parameter_count_within_5_percent():
  frames = backbone_frames(1, jnp.float32)
  mask = jnp.ones((1, 32))
  counts = {}
  for kind in KINDS:
    model = frame_net.FrameNet(frame_net.FrameNetConfig(attention=KINDS[kind]))
    shapes = jax.eval_shape(model.init, jax.random.key(0), frames.rot,
                            frames.trans, mask)
    counts[kind] = sum(x.size for x in jax.tree.leaves(shapes))
  assert abs(counts["ipa_lite"] / counts["vfn"] - 1) <= 0.05, counts


def test_non_orthonormal_frames_are_refused_naming_the_argument():
  frames = backbone_frames(1, jnp.float32)
  mask = jnp.ones((1, 32))
  model, variables = model_and_variables("vfn", frames, mask)
  bad = frames.rot.at[0, 3].multiply(1.05)
  with pytest.raises(ValueError, match="rot: frames must be orthonormal"):
    model.apply(variables, bad, frames.trans, mask)
