"""Monocular depth on `depth_scenes`: L1 on log depth.

The model maps an image [B, H, W, 3] to positive depth [B, H, W]
(`zoo.arch.timesnet`). Ours: the loss is mean |log d - log d*| (scale
aware, and every pixel weighs by its relative error, as AbsRel does).

Where the model config names a pre-trained classifier run
(`TimesNetConfig.pretrained`, trained with `scene_classification`), `init`
loads its stages into the encoder and, for decoder_init="copy", into the
reversed decoder (`zoo.arch.timesnet.transplant`).
"""

import functools

import jax
import numpy as np
from jax import numpy as jnp

from train import loop
from train.store import pretrained
from train.tasks import Task
from zoo import sharding
from zoo.arch import timesnet
from zoo.errors import ConfigError


def image_input(image) -> np.ndarray:
  """uint8 [B, H, W, 3] -> float32 in [-0.5, 0.5]."""
  return np.asarray(image, np.float32) / 255.0 - 0.5


def prepare(examples):
  return {"image": image_input(examples["image"]),
          "depth": np.asarray(examples["depth"], np.float32)}


@functools.lru_cache(maxsize=4)
def load_classifier(workdir: str) -> dict:
  """The params ({"encoder", "head"}) of a `scene_classification` run, as
  numpy arrays."""
  run, state, _ = pretrained.off_trace(
      loop.load, workdir, mesh=sharding.MeshConfig(data=1),
      devices=jax.devices()[:1])
  if run.cfg.system != "timesnet" or "head" not in state.params:
    raise ConfigError(f"pretrained: {workdir} is not a timesnet classifier "
                      "run (train/configs/timesnet.py:stage=classify)")
  return jax.device_get(state.params)


def init_with(model, key, inputs, classifier: dict | None):
  """Variables of the depth model, with `classifier`'s stages loaded."""
  variables = model.init({"params": key}, inputs["image"])
  variables = {c: v for c, v in variables.items() if c != "intermediates"}
  if classifier is not None:
    variables["params"] = timesnet.transplant(model.cfg, variables["params"],
                                              classifier)
  return variables


def init(model, key, inputs):
  workdir = model.cfg.pretrained
  return init_with(model, key, inputs,
                   load_classifier(workdir) if workdir else None)


def loss(model, variables, inputs, key):
  del key  # deterministic
  predicted = model.apply(variables, inputs["image"])
  total = jnp.mean(jnp.abs(jnp.log(predicted) - jnp.log(inputs["depth"])))
  metrics = timesnet.depth_metrics(predicted, inputs["depth"])
  return total, (metrics, {})


TASK = Task(
    name="depth_regression",
    features=("image", "depth"),
    prepare=prepare,
    init=init,
    loss=loss,
)
