"""Reconstruction through a vector-quantized bottleneck (VQ-VAE, SimVQ).

Loss = mean squared pixel error + the quantizer's loss (codebook and
commitment terms). EMA statistics are updated when the quantizer keeps them.
"""

import numpy as np
from jax import numpy as jnp

from train.tasks import Task


def prepare(examples):
  """{"image": [B, H, W]} -> {"x": [B, H * W] float32}."""
  image = np.asarray(examples["image"], np.float32)
  return {"x": image.reshape(image.shape[0], -1)}


def init(model, key, inputs):
  return model.init({"params": key}, inputs["x"])


def loss(model, variables, inputs, key):
  mutable = [c for c in ("vq_stats",) if c in variables]
  (recon, _, aux), updated = model.apply(
      variables, inputs["x"], train=True, mutable=mutable,
      rngs={"restart": key})
  recon_mse = jnp.mean((recon - inputs["x"]) ** 2)
  metrics = {
      "recon_mse": recon_mse,
      "vq_loss": aux["loss"],
      "perplexity": aux["perplexity"],
      "batch_usage": aux["batch_usage"],
  }
  return recon_mse + aux["loss"], (metrics, dict(updated))


TASK = Task(
    name="vq_autoencoder",
    features=("image",),
    prepare=prepare,
    init=init,
    loss=loss,
)
