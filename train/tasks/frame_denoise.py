"""Frame denoising on `peptide_backbones`: a frame network's output frames
should place the clean backbone.

Each step perturbs every residue frame (`zoo.protein.rigid.perturb`): a
rotation by |N(0, 0.3)| rad about a uniform axis (ours, not IGSO(3)) and
N(0, 1 Angstrom^2) per coordinate on the CA position, drawn afresh from the
step's key. Loss: mean squared error (nm^2) of the ideal N, CA, C placed by
the output frames against the clean atoms, over the residues of the mask.
The model works in nm; the dataset is in Angstrom.
"""

import numpy as np
from jax import numpy as jnp

from train.tasks import Task
from zoo.protein import rigid

ROTATION_SIGMA = 0.3  # rad
TRANSLATION_SIGMA = 1.0 / rigid.ANGSTROM_PER_NM  # 1 Angstrom, in nm


def prepare(examples):
  """{"backbone" [B, L, 3, 3] Angstrom, "label" [B, L]} -> {"atoms" [B, L,
  3, 3] nm float32, "labels" [B, L] int32, "residue_mask" [B, L]}."""
  atoms = np.asarray(examples["backbone"], np.float32) / rigid.ANGSTROM_PER_NM
  labels = np.asarray(examples["label"], np.int32)
  return {"atoms": atoms, "labels": labels,
          "residue_mask": np.ones(labels.shape, np.float32)}


def clean_frames(inputs) -> rigid.Rigid:
  atoms = inputs["atoms"]
  return rigid.from_three_points(atoms[..., 0, :], atoms[..., 1, :],
                                 atoms[..., 2, :])


def noisy_frames(inputs, key) -> rigid.Rigid:
  return rigid.perturb(key, clean_frames(inputs), ROTATION_SIGMA,
                       TRANSLATION_SIGMA)


def init(model, key, inputs):
  frames = clean_frames(inputs)
  return model.init({"params": key}, frames.rot, frames.trans,
                    inputs["residue_mask"])


def ca_rmsd(frames: rigid.Rigid, inputs) -> jnp.ndarray:
  """Per-chain CA RMSD [B] in Angstrom (no superposition: the network is
  equivariant and the noise has zero mean)."""
  mask = inputs["residue_mask"]
  sq = jnp.sum((frames.trans - inputs["atoms"][..., 1, :])**2, -1)
  rmsd_nm = jnp.sqrt(jnp.sum(sq * mask, -1) / jnp.sum(mask, -1))
  return rmsd_nm * rigid.ANGSTROM_PER_NM


def loss(model, variables, inputs, key):
  noisy = noisy_frames(inputs, key)
  out = model.apply(variables, noisy.rot, noisy.trans, inputs["residue_mask"])
  mask = inputs["residue_mask"]
  sq = jnp.sum((rigid.backbone_atoms(out.frames) - inputs["atoms"])**2,
               (-1, -2)) / 3
  mse = jnp.sum(sq * mask) / jnp.sum(mask)
  metrics = {"atom_mse_nm2": mse,
             "ca_rmsd": jnp.mean(ca_rmsd(out.frames, inputs)),
             "noisy_ca_rmsd": jnp.mean(ca_rmsd(noisy, inputs))}
  return mse, (metrics, {})


TASK = Task(
    name="frame_denoise",
    features=("backbone", "label"),
    prepare=prepare,
    init=init,
    loss=loss,
)
