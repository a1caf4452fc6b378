"""CPPD's three digit-strip recognizers, trained once per seed and cached.

    model, variables = load("cppd", seed=1)   # trains it on first use

Names: "cppd" (`cppd.py`: counting and ordering losses), "pd" (the plain
parallel decoder, `cppd.py:side_losses=false`) and "ar" (the autoregressive
decoder, `cppd_ar.py`); each from `train/configs`, on one device, into
`<user cache>/cppd/<name>_seed<N>` (`train.store.run_once`).
"""

import pathlib

import jax

from train import config as config_lib
from train import loop, store
from zoo.sharding import MeshConfig

CONFIGS = {"cppd": "cppd.py", "pd": "cppd.py:side_losses=false",
           "ar": "cppd_ar.py"}
_OVERRIDES = ["mesh.data=1", "ckpt_every=100000"]


def workdir_for(name: str, seed: int) -> pathlib.Path:
  """Where `load(name, seed)` trains and keeps the recognizer."""
  return store.cache_dir("cppd") / f"{name}_seed{seed}"


def _spec(name: str, seed: int) -> str:
  if name not in CONFIGS:
    raise ValueError(f"cppd store: unknown recognizer {name!r}; known: "
                     f"{', '.join(CONFIGS)}")
  config = CONFIGS[name]
  return config + ("," if ":" in config else ":") + f"seed={seed}"


def load(name: str, seed: int = 0):
  """(model, variables) of recognizer `name` trained from `seed`."""
  workdir = store.run_once(
      lambda: config_lib.load_config(_spec(name, seed), _OVERRIDES),
      workdir_for(name, seed), f"the {name!r} recognizer (seed {seed})")
  devices = jax.devices()[:1]
  run, state, _ = loop.load(workdir, mesh=MeshConfig(data=1),
                            devices=devices)
  return run.model, run.variables(state)
