"""`peptide_backbones`: ideal peptide backbones with secondary-structure labels.

Synthetic stand-in for PDB/CATH (which cannot be had offline): claims on it
are about the mechanism on synthetic data, not on real proteins.

Recipe: 300 chains of 32 residues; chain i is drawn by
`numpy.random.default_rng((SEED, i))`. A chain is a run of segments, each
4-10 residues long (uniform) of a kind drawn uniformly from helix (H),
strand (E) and coil (C); the last segment is cut at residue 32 (so it may be
shorter than 4). Backbone torsions per residue: H (phi, psi) = (-57, -47),
E (-120, 130), C uniform on the torus outside +-30 degrees (in both phi and
psi) of both (rejection sampling); omega 180 everywhere. The atoms N, CA, C
are placed by NeRF with Engh-Huber ideal geometry: bonds N-CA 1.458, CA-C
1.525, C-N 1.329 Angstrom, angles N-CA-C 111.2, CA-C-N 116.2, C-N-CA 121.7
degrees. The first residue's phi and the last one's psi place no atom
(they are stored as drawn). The chain is then centred on its CA centroid
and turned by a uniform random rotation.

Features: `backbone` [32, 3, 3] float32, atoms N, CA, C in Angstrom; `label`
[32] int64, 0 H, 1 E, 2 C; `phi_psi` [32, 2] float32 degrees; `index`.
Residue frames are built from N, CA, C by the model's tasks
(`zoo.protein.rigid.from_three_points`). Splits: chains 0-239 `train`,
240-299 `test`.
"""

import numpy as np
import tensorflow_datasets as tfds

from zoo.protein.rigid import (
  ANGLE_C_N_CA,
  ANGLE_CA_C_N,
  ANGLE_N_CA_C,
  BOND_C_N,
  BOND_CA_C,
  BOND_N_CA,
)

SEED = 20240116
NUM_CHAINS = 300
NUM_TRAIN = 240
LENGTH = 32
SEGMENT_LENGTHS = (4, 10)  # inclusive
LABELS = ("H", "E", "C")
HELIX = (-57.0, -47.0)
STRAND = (-120.0, 130.0)
COIL_EXCLUSION = 30.0  # degrees around HELIX and STRAND, per angle
OMEGA = 180.0


def wrap_degrees(x):
  """Angles mapped to [-180, 180)."""
  return (np.asarray(x) + 180.0) % 360.0 - 180.0


def _near(phi: float, psi: float, centre: tuple[float, float]) -> bool:
  return (abs(wrap_degrees(phi - centre[0])) < COIL_EXCLUSION
          and abs(wrap_degrees(psi - centre[1])) < COIL_EXCLUSION)


def coil_angles(rng: np.random.Generator) -> tuple[float, float]:
  """(phi, psi) uniform on the torus outside the helix and strand boxes."""
  while True:
    phi, psi = rng.uniform(-180.0, 180.0, 2)
    if not (_near(phi, psi, HELIX) or _near(phi, psi, STRAND)):
      return float(phi), float(psi)


def sample_torsions(rng: np.random.Generator) -> tuple[np.ndarray,
                                                         np.ndarray]:
  """Labels [LENGTH] int64 and (phi, psi) [LENGTH, 2] degrees."""
  labels = []
  while len(labels) < LENGTH:
    size = int(rng.integers(SEGMENT_LENGTHS[0], SEGMENT_LENGTHS[1] + 1))
    labels += [int(rng.integers(len(LABELS)))] * size
  labels = np.asarray(labels[:LENGTH], np.int64)
  angles = np.empty((LENGTH, 2))
  for i, label in enumerate(labels):
    angles[i] = (HELIX, STRAND)[label] if label < 2 else coil_angles(rng)
  return labels, angles


def place_atom(a, b, c, bond: float, angle: float, torsion: float):
  """NeRF: the atom d with |cd| = bond, angle bcd and dihedral abcd (deg)."""
  angle, torsion = np.radians(angle), np.radians(torsion)
  bc = (c - b) / np.linalg.norm(c - b)
  normal = np.cross(b - a, bc)
  normal /= np.linalg.norm(normal)
  basis = np.stack([bc, np.cross(normal, bc), normal], axis=1)
  local = bond * np.array([-np.cos(angle),
                           np.sin(angle) * np.cos(torsion),
                           np.sin(angle) * np.sin(torsion)])
  return c + basis @ local


def build_backbone(angles: np.ndarray) -> np.ndarray:
  """N, CA, C [L, 3, 3] (float64, Angstrom) from (phi, psi) [L, 2] degrees."""
  n = np.zeros(3)
  ca = np.array([BOND_N_CA, 0.0, 0.0])
  theta = np.radians(180.0 - ANGLE_N_CA_C)
  c = ca + BOND_CA_C * np.array([np.cos(theta), np.sin(theta), 0.0])
  atoms = [[n, ca, c]]
  for i in range(1, len(angles)):
    n = place_atom(n, ca, c, BOND_C_N, ANGLE_CA_C_N, angles[i - 1, 1])
    ca = place_atom(ca, c, n, BOND_N_CA, ANGLE_C_N_CA, OMEGA)
    c = place_atom(c, n, ca, BOND_CA_C, ANGLE_N_CA_C, angles[i, 0])
    atoms.append([n, ca, c])
  return np.asarray(atoms)


def random_rotation(rng: np.random.Generator) -> np.ndarray:
  """A uniform random rotation [3, 3] (QR of a Gaussian, sign-fixed)."""
  q, r = np.linalg.qr(rng.normal(size=(3, 3)))
  q = q * np.sign(np.diag(r))
  if np.linalg.det(q) < 0:
    q[:, 0] = -q[:, 0]
  return q


def generate(index: int) -> dict[str, np.ndarray]:
  """Chain `index` (float64 coordinates; see the module docstring)."""
  rng = np.random.default_rng((SEED, index))
  labels, angles = sample_torsions(rng)
  atoms = build_backbone(angles)
  atoms = atoms - atoms[:, 1].mean(0)
  atoms = atoms @ random_rotation(rng).T
  return {"backbone": atoms, "label": labels, "phi_psi": angles,
          "index": index}


class PeptideBackbones(tfds.core.GeneratorBasedBuilder):
  """Ideal N-CA-C backbones of helix/strand/coil segments, labelled H/E/C."""

  VERSION = tfds.core.Version("1.0.0")
  RELEASE_NOTES = {"1.0.0": "Initial release."}

  def _info(self) -> tfds.core.DatasetInfo:
    return tfds.core.DatasetInfo(
        builder=self,
        description=__doc__,
        features=tfds.features.FeaturesDict({
            "backbone": tfds.features.Tensor(shape=(LENGTH, 3, 3),
                                             dtype=np.float32),
            "label": tfds.features.Tensor(shape=(LENGTH,), dtype=np.int64),
            "phi_psi": tfds.features.Tensor(shape=(LENGTH, 2),
                                            dtype=np.float32),
            "index": tfds.features.Scalar(dtype=np.int64),
        }),
        metadata=tfds.core.MetadataDict(labels=LABELS, seed=SEED),
    )

  def _split_generators(self, dl_manager):
    del dl_manager  # Procedural: nothing to read.
    return {"train": self._generate_examples(range(NUM_TRAIN)),
            "test": self._generate_examples(range(NUM_TRAIN, NUM_CHAINS))}

  def _generate_examples(self, indices):
    for i in indices:
      chain = generate(i)
      yield i, {"backbone": chain["backbone"].astype(np.float32),
                "label": chain["label"],
                "phi_psi": chain["phi_psi"].astype(np.float32),
                "index": i}
