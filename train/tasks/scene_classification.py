"""Multi-label classification of `shape_scenes`: which of the 15
colour-kind classes appear; the pre-training of ×Net's backbone.

The model's `classify` method maps an image [B, H, W, 3] to logits [B,
15]; the loss is the mean sigmoid cross-entropy over classes.
"""

import numpy as np
import optax
from jax import numpy as jnp

from train.tasks import Task
from train.tasks.depth_regression import image_input


def prepare(examples):
  return {"image": image_input(examples["image"]),
          "labels": np.asarray(examples["labels"], np.float32)}


def init(model, key, inputs):
  variables = model.init({"params": key}, inputs["image"], method="classify")
  return {c: v for c, v in variables.items() if c != "intermediates"}


def loss(model, variables, inputs, key):
  del key  # deterministic
  logits = model.apply(variables, inputs["image"], method="classify")
  total = jnp.mean(optax.sigmoid_binary_cross_entropy(logits,
                                                      inputs["labels"]))
  correct = (logits > 0) == (inputs["labels"] > 0.5)
  return total, ({"label_accuracy": jnp.mean(correct),
                  "exact_match": jnp.mean(jnp.all(correct, axis=-1))}, {})


TASK = Task(
    name="scene_classification",
    features=("image", "labels"),
    prepare=prepare,
    init=init,
    loss=loss,
)
