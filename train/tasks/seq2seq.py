"""Sequence-to-sequence training with teacher forcing (encoder-decoder LMs).

Inputs: {"source": int32 [B, S], "target": int32 [B, T + 1]} with target
starting at BOS; the model reads (source, target[:, :-1]) and is scored on
target[:, 1:] with mean cross-entropy; "accuracy" is next-token accuracy.
"""

import numpy as np
import optax
from jax import numpy as jnp

from train.tasks import Task


def prepare(examples):
  return {"source": np.asarray(examples["source"], np.int32),
          "target": np.asarray(examples["target"], np.int32)}


def init(model, key, inputs):
  return model.init({"params": key}, inputs["source"],
                    inputs["target"][:, :-1])


def cross_entropy(logits, target):
  """Mean CE of logits [B, T, V] against target [B, T + 1] (from BOS)."""
  return jnp.mean(optax.softmax_cross_entropy_with_integer_labels(
      logits, target[:, 1:]))


def loss(model, variables, inputs, key):
  del key  # deterministic: no dropout
  target = inputs["target"]
  logits = model.apply(variables, inputs["source"], target[:, :-1])
  mean = cross_entropy(logits, target)
  accuracy = jnp.mean(jnp.argmax(logits, -1) == target[:, 1:])
  return mean, ({"nll": mean, "accuracy": accuracy}, {})


TASK = Task(
    name="seq2seq",
    features=("source", "target"),
    prepare=prepare,
    init=init,
    loss=loss,
)
