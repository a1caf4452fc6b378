"""Codebook Features' train config and task: a smoke run with dead-code
restarts, restored from its checkpoint."""

import jax
import numpy as np

from train import config as config_lib
from train import loop


def test_smoke_run_restarts_dead_codes_and_restores(tmp_path):
  data = tmp_path / "data"
  data.mkdir()
  cfg = config_lib.load_config("codebook_features.py:smoke", [
      f"data.data_dir={data}", "model.block.hooks.layer.replace_every=4",
      "mesh.data=1"])
  summary = loop.run(cfg, tmp_path / "run", devices=jax.devices()[:1])
  assert np.isfinite(summary["train_loss"])
  assert 0.0 <= summary["transition_accuracy"] <= 1.0
  _, state, step = loop.load(tmp_path / "run", devices=jax.devices()[:1])
  assert step == cfg.steps
  stats = state.model_state["codebook_stats"]["block_1"]["mlp_hook"]
  assert int(stats["calls"]) == cfg.steps
  assert np.abs(np.asarray(stats["offset"])).max() > 0  # codes moved
