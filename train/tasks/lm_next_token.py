"""Next-token prediction for decoder LMs.

Inputs: {"tokens": int32 [B, L + 1]}; the model reads tokens[:, :-1] and is
scored on tokens[:, 1:] with mean cross-entropy over non-pad targets.
"""

import numpy as np
import optax
from jax import numpy as jnp

from train.tasks import Task
from zoo.lm import special_tokens


def prepare(examples):
  return {"tokens": np.asarray(examples["tokens"], np.int32)}


def init(model, key, inputs):
  return model.init({"params": key}, inputs["tokens"][:, :-1])


def token_losses(model, variables, tokens):
  """([B, L] per-token CE, [B, L] bool targets that count)."""
  logits = model.apply(variables, tokens[:, :-1])
  targets = tokens[:, 1:]
  losses = optax.softmax_cross_entropy_with_integer_labels(logits, targets)
  return losses, targets != special_tokens.PAD, logits


def loss(model, variables, inputs, key):
  del key  # deterministic: no dropout
  losses, valid, logits = token_losses(model, variables, inputs["tokens"])
  count = jnp.maximum(jnp.sum(valid), 1)
  mean = jnp.sum(jnp.where(valid, losses, 0.0)) / count
  correct = jnp.argmax(logits, -1) == inputs["tokens"][:, 1:]
  accuracy = jnp.sum(correct & valid) / count
  return mean, ({"nll": mean, "accuracy": accuracy}, {})


TASK = Task(
    name="lm_next_token",
    features=("tokens",),
    prepare=prepare,
    init=init,
    loss=loss,
)
