"""Config files, `:arg` variants and strict typed overrides."""

import re

import pytest

from train import config as config_lib
from zoo import registry
from zoo.errors import ConfigError
from zoo.sharding import MeshConfig, mesh_shape


def test_every_registered_config_loads_with_smoke():
  for system in registry.systems():
    for name in system.configs:
      cfg = config_lib.load_config(f"{name}:smoke")
      assert cfg.system == system.name
      assert cfg.steps <= 50, "smoke variants must stay tiny"


def test_overrides_are_typed():
  cfg = config_lib.load_config("simvq.py", [
      "optim.learning_rate=3e-4", "steps=7", "model.quantizer.num_codes=32",
      "model.quantizer.rotation_trick=true", "mesh.data=2", "data.data_dir=x"])
  assert cfg.optim.learning_rate == 3e-4 and cfg.steps == 7
  assert cfg.model.quantizer.num_codes == 32
  assert cfg.model.quantizer.rotation_trick is True
  assert cfg.mesh == MeshConfig(data=2) and cfg.data.data_dir == "x"


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
     "codebook must be one of ['learned', 'ema', 'simvq'], got 'fsq'"),
    ("model.quantizer.dead_code_threshold=0.5", "needs codebook='ema'"),
])
def test_bad_overrides_are_clear_errors(override, message):
  with pytest.raises(ConfigError, match=re.escape(message)):
    config_lib.load_config("simvq.py", [override])


def test_config_args_are_strict():
  assert config_lib.load_config("simvq.py:seed=4").seed == 4
  with pytest.raises(ConfigError, match="config arg 'fast' is unknown"):
    config_lib.load_config("simvq.py:fast")
  with pytest.raises(ConfigError, match="not found"):
    config_lib.load_config("no_such_config.py")


def test_round_trip_through_dict():
  cfg = config_lib.load_config("vqvae.py:smoke",
                               ["model.quantizer.codebook=ema"])
  assert config_lib.from_dict(config_lib.to_dict(cfg)) == cfg
  bad = config_lib.to_dict(cfg)
  bad["model"]["width"] = 3
  with pytest.raises(ConfigError, match="model.width"):
    config_lib.from_dict(bad)


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
