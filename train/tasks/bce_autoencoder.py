"""Image reconstruction in Bernoulli likelihood through a bottleneck (QLAE).

Inputs: {"images": [B, H, W] in [0, 1]} (and the images' "factors", which
only the evaluators read). Loss = the per-pixel mean binary cross-entropy
of the model's logits + the bottleneck's loss (`aux["loss"]`: QLAE's
quantization and commitment terms; 0 for a plain autoencoder).
"""

import numpy as np
import optax
from jax import numpy as jnp

from train.tasks import Task


def prepare(examples):
  """{"image": [B, H, W], "factors": [B, F]} -> {"images", "factors"}."""
  return {"images": np.asarray(examples["image"], np.float32),
          "factors": np.asarray(examples["factors"], np.int64)}


def init(model, key, inputs):
  return model.init({"params": key}, inputs["images"])


def bce(logits, images):
  """Mean binary cross-entropy per pixel, [B, H, W] each -> scalar."""
  return jnp.mean(optax.sigmoid_binary_cross_entropy(logits, images))


def loss(model, variables, inputs, key):
  del key  # deterministic
  logits, _, aux = model.apply(variables, inputs["images"])
  recon = bce(logits, inputs["images"])
  metrics = {"bce": recon, "bottleneck_loss": aux["loss"]}
  return recon + aux["loss"], (metrics, {})


TASK = Task(
    name="bce_autoencoder",
    features=("image", "factors"),
    prepare=prepare,
    init=init,
    loss=loss,
)
