"""The `peptide_backbones` builder: ideal geometry exactly, the drawn
torsions realised, labels and coil angles as the recipe says."""

import numpy as np
import pytest

from train.data.builders import peptide_backbones as pb
from zoo.protein import rigid


def dihedral(p0, p1, p2, p3):
  """Dihedral angles (degrees) of point rows [..., 3], IUPAC sign."""
  b0, b1, b2 = p0 - p1, p2 - p1, p3 - p2
  b1 = b1 / np.linalg.norm(b1, axis=-1, keepdims=True)
  v = b0 - np.sum(b0 * b1, -1, keepdims=True) * b1
  w = b2 - np.sum(b2 * b1, -1, keepdims=True) * b1
  x = np.sum(v * w, -1)
  y = np.sum(np.cross(b1, v) * w, -1)
  return np.degrees(np.arctan2(y, x))


def angle(a, b, c):
  u, v = a - b, c - b
  cos = np.sum(u * v, -1) / np.linalg.norm(u, axis=-1) / np.linalg.norm(
      v, axis=-1)
  return np.degrees(np.arccos(cos))


@pytest.fixture(scope="module")
def chains():
  return [pb.generate(i) for i in range(0, pb.NUM_CHAINS, 10)]


# As generated (float64): Angstrom and degrees within 1e-4; as stored
# (float32, rounding ~2e-6 Angstrom at 20 Angstrom): Angstrom and radians.
@pytest.mark.parametrize("dtype,angle_unit", [(np.float64, 1.0),
                                              (np.float32, np.pi / 180)])
def test_bond_lengths_and_angles_are_exact(chains, dtype, angle_unit):
  for chain in chains:
    a = chain["backbone"].astype(dtype).astype(np.float64)
    n, ca, c = a[:, 0], a[:, 1], a[:, 2]
    bonds = {rigid.BOND_N_CA: np.linalg.norm(ca - n, axis=-1),
             rigid.BOND_CA_C: np.linalg.norm(c - ca, axis=-1),
             rigid.BOND_C_N: np.linalg.norm(n[1:] - c[:-1], axis=-1)}
    for ideal, lengths in bonds.items():
      np.testing.assert_allclose(lengths, ideal, atol=1e-4)
    angles = {rigid.ANGLE_N_CA_C: angle(n, ca, c),
              rigid.ANGLE_CA_C_N: angle(ca[:-1], c[:-1], n[1:]),
              rigid.ANGLE_C_N_CA: angle(c[:-1], n[1:], ca[1:])}
    for ideal, values in angles.items():
      np.testing.assert_allclose(values * angle_unit, ideal * angle_unit,
                                 atol=1e-4)


def test_torsions_are_the_drawn_ones_and_omega_is_180(chains):
  for chain in chains:
    a, drawn = chain["backbone"], chain["phi_psi"]
    n, ca, c = a[:, 0], a[:, 1], a[:, 2]
    phi = dihedral(c[:-1], n[1:], ca[1:], c[1:])
    psi = dihedral(n[:-1], ca[:-1], c[:-1], n[1:])
    omega = dihedral(ca[:-1], c[:-1], n[1:], ca[1:])
    for measured, expected in ((phi, drawn[1:, 0]), (psi, drawn[:-1, 1]),
                               (omega, pb.OMEGA)):
      assert np.all(np.abs(pb.wrap_degrees(measured - expected)) < 1e-6)


def test_labels_angles_and_segments_follow_the_recipe(chains):
  for chain in chains:
    labels, drawn = chain["label"], chain["phi_psi"]
    assert labels.shape == (pb.LENGTH,) and set(labels) <= {0, 1, 2}
    np.testing.assert_array_equal(drawn[labels == 0],
                                  np.broadcast_to(pb.HELIX, drawn[labels
                                                                  == 0].shape))
    np.testing.assert_array_equal(drawn[labels == 1],
                                  np.broadcast_to(pb.STRAND,
                                                  drawn[labels == 1].shape))
    for centre in (pb.HELIX, pb.STRAND):
      near = np.all(np.abs(pb.wrap_degrees(drawn[labels == 2] - centre))
                    < pb.COIL_EXCLUSION, axis=-1)
      assert not near.any()
    np.testing.assert_allclose(chain["backbone"][:, 1].mean(0), 0,
                               atol=1e-9)
  # Runs of one label are whole segments (>= 4) or merged ones, except the
  # cut last one: no interior run is shorter than 4.
  for chain in chains:
    bounds = np.flatnonzero(np.diff(chain["label"])) + 1
    runs = np.diff(np.concatenate([[0], bounds, [pb.LENGTH]]))
    assert np.all(runs[:-1] >= pb.SEGMENT_LENGTHS[0])


def test_chains_are_reproducible_and_mix_all_three_labels():
  a, b = pb.generate(7), pb.generate(7)
  np.testing.assert_array_equal(a["backbone"], b["backbone"])
  labels = np.concatenate([pb.generate(i)["label"] for i in range(40)])
  shares = np.bincount(labels, minlength=3) / labels.size
  assert np.all(shares > 0.2), shares


def test_chain_matches_peptidebuilder_through_a_pdb_file(tmp_path):
  """The `protein` extra: PeptideBuilder (with Engh-Huber bond lengths and
  angles, glycines) builds the same backbone from the same torsions; it
  goes through a PDB file and back (Biopython) and superposes on ours."""
  peptide_builder = pytest.importorskip("PeptideBuilder")
  geometry = pytest.importorskip("PeptideBuilder.Geometry")
  pdb = pytest.importorskip("Bio.PDB")
  chain = pb.generate(3)
  geos = []
  for i, phi in enumerate(chain["phi_psi"][:, 0]):
    geo = geometry.geometry("G")
    geo.CA_N_length, geo.CA_C_length = rigid.BOND_N_CA, rigid.BOND_CA_C
    geo.peptide_bond, geo.N_CA_C_angle = rigid.BOND_C_N, rigid.ANGLE_N_CA_C
    geo.CA_C_N_angle, geo.C_N_CA_angle = (rigid.ANGLE_CA_C_N,
                                          rigid.ANGLE_C_N_CA)
    geo.phi, geo.omega = float(phi), pb.OMEGA
    geo.psi_im1 = float(chain["phi_psi"][i - 1, 1]) if i else 0.0
    geos.append(geo)
  io = pdb.PDBIO()
  io.set_structure(peptide_builder.make_structure_from_geos(geos))
  io.save(str(tmp_path / "chain.pdb"))
  parsed = pdb.PDBParser(QUIET=True).get_structure("x", tmp_path /
                                                    "chain.pdb")
  theirs = np.array([[res[a].coord for a in ("N", "CA", "C")]
                     for res in parsed.get_residues()], np.float64)
  ours = chain["backbone"]
  assert theirs.shape == ours.shape
  a = theirs.reshape(-1, 3) - theirs.reshape(-1, 3).mean(0)
  b = ours.reshape(-1, 3) - ours.reshape(-1, 3).mean(0)
  u, _, vt = np.linalg.svd(a.T @ b)
  d = np.sign(np.linalg.det(u @ vt))
  rot = u @ np.diag([1, 1, d]) @ vt
  rmsd = np.sqrt(np.mean(np.sum((a @ rot - b) ** 2, -1)))
  assert rmsd < 0.01, rmsd  # PDB files keep 3 decimals
