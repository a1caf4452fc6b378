"""The Hyperdimensional Probe's subject LM, trained once and then loaded.

    params = subject_params(CACHED)       # trains it on first use

`train/configs/hd_probe.py:stage=lm` trains it (a `decoder_lm` run on
`kv_analogies`) into `<user cache>/hd_probe/subject` on first use
(`train.store.run_once`); a probe config names it, or another such run's
workdir, in `HDProbeConfig.subject_run`.
"""

import pathlib

import jax

from train import config as config_lib
from train import loop, store
from zoo import sharding
from zoo.errors import ConfigError

# The `subject_run` value that means the cached subject.
CACHED = "cache"


def trained_subject() -> pathlib.Path:
  """The workdir of the finished subject run, trained once into the cache."""
  return store.run_once(lambda: config_lib.load_config("hd_probe.py:stage=lm"),
                        store.cache_dir("hd_probe") / "subject",
                        "the hd_probe subject LM")


def subject_params(run: str, expected=None) -> dict:
  """The subject LM's params (host arrays): of the cached run (`CACHED`) or
  of the `decoder_lm` run in workdir `run`.

  Raises:
    ConfigError: the run is no `decoder_lm` run, or its model config is not
      `expected` (where given).
  """
  workdir = trained_subject() if run == CACHED else run
  saved, state, _ = loop.load(workdir, mesh=sharding.MeshConfig(data=1),
                              devices=jax.devices()[:1])
  if saved.cfg.system != "decoder_lm":
    raise ConfigError(f"{workdir} holds a {saved.cfg.system!r} run, not the "
                      "subject LM (train/configs/hd_probe.py:stage=lm)")
  if expected is not None and saved.cfg.model != expected:
    raise ConfigError(f"{workdir}: its LM config {saved.cfg.model} is not "
                      f"the probe's subject {expected}")
  return jax.device_get(state.params)
