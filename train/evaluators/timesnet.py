"""×Net on held-out scenes: AbsRel and delta1 of depth batches
(`depth_regression`), or label accuracy and exact match of classification
batches (`scene_classification`, the pre-training); padding rows weigh 0."""

import functools

import jax
import numpy as np
from jax import numpy as jnp

from zoo.arch import timesnet


@functools.partial(jax.jit, static_argnums=0)
def _depth_sums(model, variables, batch):
  metrics = timesnet.depth_metrics(model.apply(variables, batch["image"]),
                                   batch["depth"], batch["mask"])
  pixels = jnp.sum(batch["mask"]) * np.prod(batch["depth"].shape[1:])
  return {k: v * pixels for k, v in metrics.items()}, pixels


@functools.partial(jax.jit, static_argnums=0)
def _label_sums(model, variables, batch):
  logits = model.apply(variables, batch["image"], method="classify")
  correct = (logits > 0) == (batch["labels"] > 0.5)
  valid = batch["mask"].astype(jnp.float32)
  return {"label_accuracy": jnp.sum(jnp.mean(correct, -1) * valid),
          "exact_match": jnp.sum(jnp.all(correct, -1) * valid)}, jnp.sum(valid)


def evaluate(model, variables, batches, workdir=None) -> dict[str, float]:
  """Depth: abs_rel, delta1 (per pixel); classification: label_accuracy,
  exact_match (per scene)."""
  del workdir  # no plots
  totals, count = {}, 0.0
  for batch in batches:
    sums = _depth_sums if "depth" in batch else _label_sums
    values, n = jax.device_get(sums(model, variables, batch))
    for k, v in values.items():
      totals[k] = totals.get(k, 0.0) + float(v)
    count += float(n)
  return {k: v / count for k, v in totals.items()}
