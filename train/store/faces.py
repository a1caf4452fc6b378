"""Vec2Face's trained parts: the ArcFace FR network, the yaw regressor and
the generator, each trained once and then loaded.

    params = load("generator")          # trains fr, then the generator
    model = vec2face.build(config)      # their params fit one Vec2Face

Stages are those of `train/configs/vec2face.py` (`stage=fr|yaw|generator`);
each trains into `<user cache>/vec2face/<stage>` on first use
(`train.store.run_once`). The generator's identity loss uses the cached
FR network unless its config names another.
"""

import pathlib

import jax

from train import config as config_lib
from train import loop, store
from zoo import sharding
from zoo.errors import ConfigError

STAGES = ("fr", "yaw", "generator")
# The generator's `recognizer` value that means the cached FR run.
CACHED = "cache"


def workdir_for(stage: str, smoke: bool = False) -> pathlib.Path:
  return store.cache_dir("vec2face") / (stage + ("_smoke" if smoke else ""))


def trained(stage: str, smoke: bool = False) -> pathlib.Path:
  """The workdir of a finished `stage` run, trained once into the cache."""
  if stage not in STAGES:
    raise ValueError(f"vec2face stage must be one of {STAGES}, got "
                     f"{stage!r}")
  arg = f"vec2face.py:stage={stage}" + (",smoke" if smoke else "")
  return store.run_once(lambda: config_lib.load_config(arg),
                        workdir_for(stage, smoke), f"vec2face {stage}")


def load(stage: str, smoke: bool = False,
         workdir: str | pathlib.Path | None = None) -> tuple:
  """(model config, params as host arrays) of a `stage` run: from
  `workdir`, or trained once into the cache."""
  workdir = trained(stage, smoke) if workdir is None else workdir
  run, state, _ = loop.load(workdir, mesh=sharding.MeshConfig(data=1),
                            devices=jax.devices()[:1])
  if run.cfg.system != "vec2face":
    raise ConfigError(f"{workdir} holds a {run.cfg.system!r} run, not a "
                      "vec2face one (train/configs/vec2face.py)")
  return run.cfg.model, jax.device_get(state.params)


def recognizer_params(name: str) -> dict:
  """The FR network's params: of the cached FR run (`CACHED`) or of the
  FR run in workdir `name`."""
  _, params = load("fr", workdir=None if name == CACHED else name)
  if "recognizer" not in params:
    raise ConfigError(f"{name} is not a vec2face FR run "
                      "(train/configs/vec2face.py:stage=fr)")
  return params["recognizer"]
