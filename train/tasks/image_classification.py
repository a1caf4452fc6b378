"""Image classification: softmax cross-entropy of a model's logits.

The model maps `image` [B, ...] to logits [B, classes] with its plain call;
`label` [B] holds the class ids. Any dataset with those two features fits
(`digits`: images [B, 8, 8] in [0, 1]).
"""

import numpy as np
import optax
from jax import numpy as jnp

from train.tasks import Task


def prepare(examples):
  return {"image": np.asarray(examples["image"], np.float32),
          "label": np.asarray(examples["label"], np.int32)}


def init(model, key, inputs):
  return model.init({"params": key}, inputs["image"])


def loss(model, variables, inputs, key):
  del key  # deterministic
  logits = model.apply(variables, inputs["image"])
  total = jnp.mean(optax.softmax_cross_entropy_with_integer_labels(
      logits, inputs["label"]))
  accuracy = jnp.mean(jnp.argmax(logits, -1) == inputs["label"])
  return total, ({"accuracy": accuracy}, {})


TASK = Task(
    name="image_classification",
    features=("image", "label"),
    prepare=prepare,
    init=init,
    loss=loss,
)
