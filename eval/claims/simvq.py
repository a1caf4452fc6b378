"""SimVQ's claim: one linear layer over a frozen codebook prevents collapse.

Setting (calibrated against vector-quantize-pytorch on a 2-core CPU): the
digits autoencoder of train/configs/_vq_digits.py (4 tokens x 16 dims,
K=512, Adam 1e-3, batch 128, 3000 steps, PyTorch's nn.Linear init), trained
and measured on all 1797 images, 3 seeds. Baseline: the matched classic
VQ-VAE (same loss weights, straight-through, same N(0, 1/d) codebook init;
no EMA, rotation or restarts).

A fourth record repeats the utilization ratio with Flax's default layer init
(normal weights, zero biases): the baseline's collapse, and so the ratio,
depends on the scale of the encoder's first outputs, and the ledger shows it.
"""

import pathlib
import tempfile

import jax
import numpy as np

from eval.claims import measured
from train import config as config_lib
from train import loop

SEEDS = (0, 1, 2)
_ALL_DIGITS = ["data.train_split=train+test", "data.eval_split=train+test",
               "ckpt_every=100000", "log_every=500", "mesh.data=1"]


def _mean_metrics(system: str, init: str, root: pathlib.Path) -> dict:
  results = []
  for seed in SEEDS:
    cfg = config_lib.load_config(f"{system}.py:seed={seed}",
                                 [*_ALL_DIGITS, f"model.init={init}"])
    # One device: toy scale, and the same numbers on any host.
    results.append(loop.run(cfg, root / f"{system}_{init}_{seed}",
                            devices=jax.devices()[:1]))
  return {key: float(np.mean([r[key] for r in results]))
          for key in ("codebook_utilization", "reconstruction_mse")}


def check():
  with tempfile.TemporaryDirectory() as tmp:
    root = pathlib.Path(tmp)
    runs = {(system, init): _mean_metrics(system, init, root)
            for init in ("torch", "lecun") for system in ("simvq", "vqvae")}
  util = {init: runs["simvq", init]["codebook_utilization"]
          for init in ("torch", "lecun")}
  base = {init: runs["vqvae", init]["codebook_utilization"]
          for init in ("torch", "lecun")}
  mse = runs["simvq", "torch"]["reconstruction_mse"]
  mse_base = runs["vqvae", "torch"]["reconstruction_mse"]
  return [
      measured("simvq", "codebook utilization >= 80% (mean of 3 seeds)",
               "codebook_utilization", util["torch"], base["torch"], 0.80),
      measured("simvq", "utilization >= 1.4x the matched VQ-VAE's "
               "(value: ratio; baseline: VQ-VAE utilization)",
               "utilization_ratio", util["torch"] / base["torch"],
               base["torch"], 1.4),
      measured("simvq", "reconstruction MSE <= 1.05x the matched VQ-VAE's "
               "(value: ratio; baseline: VQ-VAE MSE)",
               "mse_ratio", mse / mse_base, mse_base, 1.05,
               higher_is_better=False),
      measured("simvq", "sensitivity: the same utilization ratio with Flax's "
               "default layer init (baseline: VQ-VAE utilization)",
               "utilization_ratio_lecun_init", util["lecun"] / base["lecun"],
               base["lecun"], 1.4),
  ]
