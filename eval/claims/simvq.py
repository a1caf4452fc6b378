"""SimVQ's claim: one linear layer over a frozen codebook prevents collapse.

Setting (calibrated against vector-quantize-pytorch on a 2-core CPU): the
digits autoencoder of train/configs/_vq_digits.py (4 tokens x 16 dims,
K=512, Adam 1e-3, batch 128, 3000 steps), trained and measured on all 1797
images, 3 seeds. Baseline: the matched classic VQ-VAE (same loss weights,
straight-through, same N(0, 1/d) init; no EMA, rotation or restarts).
"""

import pathlib
import tempfile

import numpy as np

from eval.claims import measured
from train import config as config_lib
from train import loop

SEEDS = (0, 1, 2)
_ALL_DIGITS = ["data.train_split=train+test", "data.eval_split=train+test",
               "ckpt_every=100000", "log_every=500"]


def _train(system: str, seed: int, root: pathlib.Path) -> dict:
  cfg = config_lib.load_config(f"{system}.py:seed={seed}", _ALL_DIGITS)
  return loop.run(cfg, root / f"{system}_{seed}")


def check():
  with tempfile.TemporaryDirectory() as tmp:
    root = pathlib.Path(tmp)
    runs = {name: [_train(name, seed, root) for seed in SEEDS]
            for name in ("simvq", "vqvae")}
  mean = lambda name, key: float(np.mean([r[key] for r in runs[name]]))
  util, util_base = (mean(n, "codebook_utilization") for n in ("simvq",
                                                               "vqvae"))
  mse, mse_base = (mean(n, "reconstruction_mse") for n in ("simvq", "vqvae"))
  return [
      measured("simvq", "codebook utilization >= 80% (mean of 3 seeds)",
               "codebook_utilization", util, util_base, 0.80),
      measured("simvq", "utilization >= 1.4x the matched VQ-VAE's "
               "(value: ratio; baseline: VQ-VAE utilization)",
               "utilization_ratio", util / util_base, util_base, 1.4),
      measured("simvq", "reconstruction MSE <= 1.05x the matched VQ-VAE's "
               "(value: ratio; baseline: VQ-VAE MSE)",
               "mse_ratio", mse / mse_base, mse_base, 1.05,
               higher_is_better=False),
  ]
