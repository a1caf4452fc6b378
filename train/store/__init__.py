"""The trained-model store: models that claims, reports and users load.

    from train.store import lm, mdm, heads
    target = lm.load_target("text")       # the decoding target LM
    model = mdm.load()                    # the list-task masked-diffusion LM
    head = heads.restore(workdir)         # a trained retrieval head

Cached models are trained once, by `train.loop.run` from a config in
`train/configs`, into the user cache (`zoo.cache.user_cache_dir()`) and
loaded afterwards; concurrent first calls take turns on a file lock, so a
model is trained once. Any of them can be loaded from a workdir instead.
"""

import pathlib
import sys
from collections.abc import Callable

import jax

from train import config as config_lib
from train import loop
from zoo import cache


def cache_dir(kind: str) -> pathlib.Path:
  """Where cached models of one kind live: `<user cache>/<kind>`."""
  return cache.user_cache_dir() / kind


def run_once(make_config: Callable[[], config_lib.TrainConfig],
             workdir: str | pathlib.Path, what: str) -> pathlib.Path:
  """Trains `make_config()` into `workdir` on one device unless a finished
  run (its eval.json) is there; concurrent callers take turns on a lock, so
  it trains once. Returns the workdir."""
  workdir = pathlib.Path(workdir)
  with cache.locked(workdir.parent / f".{workdir.name}.lock"):
    if not (workdir / "eval.json").exists():
      print(f"training {what} once into {workdir}", file=sys.stderr)
      loop.run(make_config(), workdir, devices=jax.devices()[:1])
  return workdir
