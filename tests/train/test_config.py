"""Config files, `:arg` variants and strict typed overrides."""

import json
import re

import pytest

from train import config as config_lib
from zoo.errors import ConfigError
from zoo.sharding import MeshConfig, mesh_shape
from zoo.vq.codebooks.ema import EMACodebook
from zoo.vq.codebooks.learned import LearnedCodebook


@pytest.mark.parametrize("override,message", [
    ("optim.lr=1", "unknown config key 'optim.lr': optim has no field 'lr'"),
    ("nope=1", "the config has no field 'nope'"),
    ("steps=1.5", "steps must be int"),
    ("model.quantizer.rotation_trick=maybe", "must be a bool"),
    ("optim.name=lion", "must be one of"),
    ("model.quantizer=1", "is a group"),
    ("steps.x=1", "is a value, not a group"),
    ("steps", "must look like key.path=value"),
    ("steps=0", "steps must be >= 1"),
    ("model.quantizer.codebook=fsq",
     "model.quantizer.codebook: unknown CodebookConfig kind 'fsq'; known: "
     "ema, learned, simvq"),
    ("model.quantizer.codebook.dead_code_threshold=0.5",
     "model.quantizer.codebook has no field 'dead_code_threshold'"),
    ("model.quantizer.codebook.bias=maybe", "must be a bool"),
])
def test_bad_overrides_are_clear_errors(override, message):
  with pytest.raises(ConfigError, match=re.escape(message)):
    config_lib.load_config("simvq.py", [override])


def test_a_warmup_longer_than_the_cosine_run_is_refused():
  with pytest.raises(ConfigError, match="warmup_steps=50 leaves no steps"):
    config_lib.load_config("lm.py", ["steps=40"])
  assert config_lib.load_config("lm.py", ["steps=51"]).steps == 51
  assert config_lib.load_config("lm.py", [
      "optim.schedule=constant", "steps=40"]).steps == 40


def test_config_args_are_strict():
  assert config_lib.load_config("simvq.py:seed=4").seed == 4
  with pytest.raises(ConfigError, match="config arg 'fast' is unknown"):
    config_lib.load_config("simvq.py:fast")
  with pytest.raises(ConfigError, match="not found"):
    config_lib.load_config("no_such_config.py")


def test_round_trip_through_dict():
  cfg = config_lib.load_config("vqvae.py:smoke",
                               ["model.quantizer.codebook=ema",
                                "model.quantizer.codebook.decay=0.5"])
  assert cfg.model.quantizer.codebook == EMACodebook(decay=0.5)
  saved = config_lib.to_dict(cfg)
  assert saved["model"]["quantizer"]["codebook"] == {
      "kind": "ema", "decay": 0.5, "kmeans_init": False, "kmeans_iters": 10,
      "dead_code_threshold": 0.0}
  assert config_lib.from_dict(json.loads(json.dumps(saved))) == cfg
  bad = config_lib.to_dict(cfg)
  bad["model"]["width"] = 3
  with pytest.raises(ConfigError, match="model.width"):
    config_lib.from_dict(bad)
  bad = config_lib.to_dict(cfg)
  bad["model"]["quantizer"]["codebook"]["kind"] = "fsq"
  with pytest.raises(ConfigError, match="unknown CodebookConfig kind 'fsq'"):
    config_lib.from_dict(bad)


def test_switching_a_plugin_kind_starts_from_its_defaults():
  cfg = config_lib.load_config("simvq.py:smoke",
                               ["model.quantizer.codebook=learned",
                                "model.quantizer.codebook.kmeans_init=true"])
  assert cfg.model.quantizer.codebook == LearnedCodebook(kmeans_init=True)
  assert cfg.model.quantizer.num_codes == 64  # the rest is untouched


def test_a_saved_task_name_reads_as_its_reference():
  cfg = config_lib.load_config("cppd_ar.py:smoke")
  saved = {**config_lib.to_dict(cfg), "task": "strip_ar"}
  assert config_lib.from_dict(saved).task == "train.tasks.strip_ar:TASK"


@pytest.mark.parametrize("mesh,devices,expected", [
    (MeshConfig(), 8, (8, 1, 1)),
    (MeshConfig(data=4, tensor=2), 8, (4, 1, 2)),
    (MeshConfig(data=-1, fsdp=2), 8, (4, 2, 1)),
])
def test_mesh_shapes(mesh, devices, expected):
  assert mesh_shape(mesh, devices) == expected


@pytest.mark.parametrize("mesh,message", [
    (MeshConfig(data=3), "3\\*1\\*1 = 3, but 8 devices"),
    (MeshConfig(data=-1, fsdp=3), "not divisible"),
    (MeshConfig(data=-1, fsdp=-1), "at most one -1"),
])
def test_bad_mesh_is_a_clear_error(mesh, message):
  with pytest.raises(ConfigError, match=message):
    mesh_shape(mesh, 8)
