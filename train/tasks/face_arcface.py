"""Face recognition on `procedural_faces` with the ArcFace loss: the
cross-entropy of `arcface_logits` (s cos(theta + m) at the label) over the
training identities; the FR network of `zoo.arch.vec2face`."""

import numpy as np
import optax
from jax import numpy as jnp

from train.tasks import Task


def image_input(image) -> np.ndarray:
  """uint8 [B, H, W, 1] -> float32 in [0, 1]."""
  return np.asarray(image, np.float32) / 255.0


def prepare(examples):
  return {"image": image_input(examples["image"]),
          "identity": np.asarray(examples["identity"], np.int32)}


def init(model, key, inputs):
  return model.init({"params": key}, inputs["image"], inputs["identity"],
                    method="arcface_logits")


def loss(model, variables, inputs, key):
  del key  # deterministic
  logits = model.apply(variables, inputs["image"], inputs["identity"],
                       method="arcface_logits")
  total = jnp.mean(optax.softmax_cross_entropy_with_integer_labels(
      logits, inputs["identity"]))
  # Right even with the margin against the label: a strict accuracy.
  accuracy = jnp.mean(jnp.argmax(logits, -1) == inputs["identity"])
  return total, ({"margin_accuracy": accuracy}, {})


TASK = Task(
    name="face_arcface",
    features=("image", "identity"),
    prepare=prepare,
    init=init,
    loss=loss,
)
