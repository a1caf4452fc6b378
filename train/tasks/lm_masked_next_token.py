"""Next-token prediction scored only where a mask says (recall tasks).

Inputs: {"tokens": int32 [B, L + 1], "target_mask": bool [B, L]}; the model
reads tokens[:, :-1] and is scored on tokens[:, 1:] with mean cross-entropy
over the masked targets; "accuracy" is exact-token accuracy over them.
"""

import numpy as np
import optax
from jax import numpy as jnp

from train.tasks import Task, lm_next_token


def prepare(examples):
  return {"tokens": np.asarray(examples["tokens"], np.int32),
          "target_mask": np.asarray(examples["target_mask"], bool)}


def loss(model, variables, inputs, key):
  del key  # deterministic: no dropout
  tokens, mask = inputs["tokens"], inputs["target_mask"]
  logits = model.apply(variables, tokens[:, :-1])
  losses = optax.softmax_cross_entropy_with_integer_labels(logits,
                                                           tokens[:, 1:])
  count = jnp.maximum(jnp.sum(mask), 1)
  mean = jnp.sum(jnp.where(mask, losses, 0.0)) / count
  correct = jnp.argmax(logits, -1) == tokens[:, 1:]
  return mean, ({"nll": mean, "accuracy": jnp.sum(correct & mask) / count},
                {})


TASK = Task(
    name="lm_masked_next_token",
    features=("tokens", "target_mask"),
    prepare=prepare,
    init=lm_next_token.init,
    loss=loss,
)
