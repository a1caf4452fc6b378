"""CPPD: parallel decoding of line images, with counting and ordering losses.

Loss = label-smoothed character cross-entropy + w (counting cross-entropy +
ordering binary cross-entropy), w = `model.cfg.side_loss_weight`; w = 0
trains the plain parallel decoder. See `zoo.decoding.cppd`.
"""

import numpy as np

from train.tasks import Task
from zoo.decoding import cppd

# The `digit_strips` images hold pixel counts 0..16.
_PIXEL_SCALE = 16.0


def prepare(examples):
  """{"image": [B, H, W] uint8, "label": [B, S]} -> float32 images in
  [0, 1] and int32 label tokens."""
  return {
      "image": np.asarray(examples["image"], np.float32) / _PIXEL_SCALE,
      "label": np.asarray(examples["label"], np.int32),
  }


def init(model, key, inputs):
  return model.init({"params": key}, inputs["image"], side_tasks=True)


def loss(model, variables, inputs, key):
  del key  # deterministic
  outputs = model.apply(variables, inputs["image"],
                        side_tasks=model.cfg.side_loss_weight > 0)
  total, metrics = cppd.cppd_loss(outputs, inputs["label"], model.cfg)
  return total, (metrics, {})


TASK = Task(
    name="cppd",
    features=("image", "label"),
    prepare=prepare,
    init=init,
    loss=loss,
)
