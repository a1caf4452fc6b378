"""MEG -> image code on `synthetic_meg`: lam InfoNCE + (1 - lam) MSE.

Every trial is recorded on the same 272 sensors, so each batch gets the
layout's positions and an all-present mask; the model drops sensors in
training itself (`zoo.arch.meg_decoder.radius_dropout`). BatchNorm's
statistics are the updated non-param collection.
"""

import numpy as np

from train.data.builders import synthetic_meg
from train.tasks import Task
from zoo.arch import meg_decoder


def prepare(examples):
  """{"meg", "subject", "code", "image"} -> model inputs, with positions
  [B, sensors, 2] and present [B, sensors]."""
  meg = np.asarray(examples["meg"], np.float32)
  subject = np.asarray(examples["subject"], np.int32)
  synthetic_meg.check_subjects(subject, synthetic_meg.RECIPE.num_subjects)
  _, positions = synthetic_meg.sensor_layout(meg.shape[1])
  b = len(meg)
  return {"meg": meg, "subject": subject,
          "positions": np.broadcast_to(positions, (b, *positions.shape)),
          "present": np.ones(meg.shape[:2], bool),
          "code": np.asarray(examples["code"], np.float32),
          "image": np.asarray(examples["image"], np.int64)}


def apply(model, variables, inputs, **kwargs):
  return model.apply(variables, inputs["meg"], inputs["subject"],
                     inputs["positions"], inputs["present"], **kwargs)


def init(model, key, inputs):
  variables = model.init({"params": key}, inputs["meg"], inputs["subject"],
                         inputs["positions"], inputs["present"])
  return {c: v for c, v in variables.items() if c != "intermediates"}


def loss(model, variables, inputs, key):
  outputs, updated = apply(model, variables, inputs, train=True,
                           rngs={"dropout": key}, mutable=["batch_stats"])
  total, metrics = meg_decoder.loss(model.cfg, outputs, inputs["code"],
                                    variables["params"]["log_scale"])
  return total, (metrics, updated)


TASK = Task(
    name="meg_clip_mse",
    features=("meg", "subject", "code", "image"),
    prepare=prepare,
    init=init,
    loss=loss,
)
