"""Yaw regression on `procedural_faces`: mean |yaw - yaw*| of the yaw
regressor of `zoo.arch.vec2face` (the toy's stand-in for 6DRepNet)."""

import numpy as np
from jax import numpy as jnp

from train.tasks import Task
from train.tasks.face_arcface import image_input


def prepare(examples):
  return {"image": image_input(examples["image"]),
          "yaw": np.asarray(examples["yaw"], np.float32)}


def init(model, key, inputs):
  return model.init({"params": key}, inputs["image"], method="yaw")


def loss(model, variables, inputs, key):
  del key  # deterministic
  error = jnp.abs(model.apply(variables, inputs["image"], method="yaw")
                  - inputs["yaw"])
  return jnp.mean(error), ({"yaw_mae": jnp.mean(error)}, {})


TASK = Task(
    name="yaw_regression",
    features=("image", "yaw"),
    prepare=prepare,
    init=init,
    loss=loss,
)
