"""VFN's config: the smoke run trains end to end and reports its metrics;
bad flags stop with a ConfigError naming them."""

import math

import jax
import pytest

from train import config as config_lib
from train import loop
from zoo.errors import ConfigError


def test_vfn_smoke_config_trains_and_reports(tmp_path):
  cfg = config_lib.load_config("vfn.py:smoke")
  assert cfg.steps <= 50
  summary = loop.run(cfg, tmp_path, devices=jax.devices()[:1])
  assert summary["step"] == cfg.steps
  for key in ("label_accuracy", "ca_rmsd_noisy", "ca_rmsd_denoised",
              "ca_rmsd_reduction", "train_loss"):
    assert math.isfinite(summary[key]), (key, summary[key])
  # sqrt(3) Angstrom expected from N(0, 1 A^2) per coordinate.
  assert 1.5 < summary["ca_rmsd_noisy"] < 2.0


@pytest.mark.parametrize("arg,message", [
    ("attention=gat", "unknown FrameAttentionConfig kind 'gat'"),
    ("objective=fold", "objective must be one of"),
    ("steps=0", "steps must be >= 1"),
])
def test_bad_flags_are_refused(arg, message):
  with pytest.raises(ConfigError, match=message):
    config_lib.load_config(f"vfn.py:{arg}")


@pytest.mark.parametrize("arg", ["attention=ipa_lite", "objective=labels"])
def test_variants_load(arg):
  cfg = config_lib.load_config(f"vfn.py:smoke,{arg}")
  assert cfg.system == "vfn" and cfg.steps <= 50
