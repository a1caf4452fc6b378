"""Held-out accuracy of a classifier (`train.tasks.image_classification`):
the fraction of images whose largest logit is their label; padding rows
are left out."""

import functools

import jax
from jax import numpy as jnp


@functools.partial(jax.jit, static_argnums=0)
def _correct(model, variables, batch):
  right = jnp.argmax(model.apply(variables, batch["image"]), -1) == batch[
      "label"]
  valid = batch["mask"].astype(jnp.float32)
  return jnp.sum(right * valid), jnp.sum(valid)


def evaluate(model, variables, batches, workdir=None) -> dict[str, float]:
  """{"test_accuracy": fraction correct}."""
  del workdir  # no plots
  correct = total = 0.0
  for batch in batches:
    right, n = jax.device_get(_correct(model, variables, batch))
    correct, total = correct + float(right), total + float(n)
  return {"test_accuracy": correct / total}
