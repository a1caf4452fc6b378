"""The MLM task: 30% of real tokens picked, 80/10/10, and :smoke trains."""

import jax
import numpy as np

from train import config as config_lib
from train import loop
from train.tasks import mlm
from zoo.lm import special_tokens


def test_masking_rate_and_split():
  tokens = np.full((100, 1001), 7, np.int32)
  tokens[:, -1] = special_tokens.PAD
  corrupted, picked = mlm.corrupt(jax.random.key(0), tokens, 0.3, 50)
  picked, corrupted = np.asarray(picked), np.asarray(corrupted)
  assert not picked[:, -1].any()
  assert abs(picked[:, 1:-1].mean() - 0.3) < 0.01
  at = corrupted[picked]
  assert abs((at == special_tokens.MASK).mean() - 0.8) < 0.01
  assert abs((at == 7).mean() - 0.1 - 0.1 / 46) < 0.01


def test_smoke_trains(tmp_path):
  for flag in ("encoder", "decoder"):
    cfg = config_lib.load_config(f"ettin.py:smoke,model={flag}",
                                 ["mesh.data=1"])
    summary = loop.run(cfg, tmp_path / flag, devices=jax.devices()[:1])
    assert np.isfinite(summary["train_loss"])
