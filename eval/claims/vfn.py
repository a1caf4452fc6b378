"""VFN's claims on `peptide_backbones` (synthetic ideal backbones: the
claims are about the mechanism on synthetic data, not the paper's PDB).

Settings (fixed by the issue and before any run): the FrameNet of
train/configs/vfn.py (2 blocks, c_s 32, c_z 16, 4 heads; VFN P = 4 points,
K = 3 basis functions; IPA-lite 3 + 3 points, parameters within 5%), Adam
1e-3 cosine, batch 16, 1500 steps, one seed (0); trained on the 240 train
chains, measured on the 60 test chains. Noise per residue: rotation by
|N(0, 0.3)| rad about a uniform axis, N(0, 1 Angstrom^2) per coordinate on
CA; fresh every step, fixed (key 0) for the measurement. Claims:

1. H/E/C per residue from clean frames only (VFN, `objective=labels`):
   accuracy >= 95%.
2. Denoising (VFN): CA RMSD cut by >= 30% (1 - denoised / noisy, mean
   per-chain RMSD without superposition).
3. VFN's denoised CA RMSD <= IPA-lite's (same training).

Measured (2026-12-06, 2 shared cores at load ~20, the whole check 23 min
wall, 355 s CPU): (1) 98.5%, pass; (2) 49.5% (1.754 -> 0.886 Angstrom),
pass; (3) FAIL: VFN 0.886 vs IPA-lite 0.876 Angstrom, 1% worse. Diagnosis:
a tie within seed noise. Both reach about half the noisy RMSD; with seed 1
(run once beside the check, not part of it) the order flips, VFN 0.880 vs
IPA-lite 0.891, so the two-seed means are 0.883 and 0.884. The toy gives
VFN little to win: frames are ideal and noise-free apart from the
perturbation, the net has 2 blocks (the paper's denoiser: many, in a
diffusion model judged by designability), and what bounds one-shot
denoising (neighbouring frames, the chain's regularity) is as reachable by
IPA's point distances as by VFN's vector field. The check stays as the
issue fixed it.
"""

import pathlib
import tempfile

import jax

from eval.claims import measured
from train import config as config_lib
from train import loop

RUNS = {"labels": "vfn.py:objective=labels",
        "vfn": "vfn.py",
        "ipa_lite": "vfn.py:attention=ipa_lite"}


def _train(spec: str, workdir: pathlib.Path) -> dict:
  cfg = config_lib.load_config(spec, ["mesh.data=1", "log_every=500"])
  # One device: toy scale, and the same numbers on any host.
  return loop.run(cfg, workdir, devices=jax.devices()[:1])


def check():
  with tempfile.TemporaryDirectory() as tmp:
    runs = {name: _train(spec, pathlib.Path(tmp) / name)
            for name, spec in RUNS.items()}
  vfn, ipa = runs["vfn"], runs["ipa_lite"]
  rmsd = (f"CA RMSD (Angstrom) noisy {vfn['ca_rmsd_noisy']:.3f}, VFN "
          f"{vfn['ca_rmsd_denoised']:.3f}, IPA-lite "
          f"{ipa['ca_rmsd_denoised']:.3f}")
  return [
      measured("vfn", "H/E/C per residue from frames only >= 95% (60 "
               "synthetic test chains of 32)", "label_accuracy",
               runs["labels"]["label_accuracy"], None, 0.95),
      measured("vfn", f"denoising cuts CA RMSD >= 30% (value: 1 - denoised "
               f"/ noisy; baseline: IPA-lite's cut; {rmsd})",
               "ca_rmsd_reduction", vfn["ca_rmsd_reduction"],
               ipa["ca_rmsd_reduction"], 0.30),
      measured("vfn", "VFN denoised CA RMSD <= IPA-lite's (parameters "
               "within 5%; value: VFN's, baseline and threshold: "
               "IPA-lite's, Angstrom)", "ca_rmsd_denoised",
               vfn["ca_rmsd_denoised"], ipa["ca_rmsd_denoised"],
               ipa["ca_rmsd_denoised"], higher_is_better=False),
  ]
