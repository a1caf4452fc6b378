"""Next-token prediction through codebook layers (Codebook Features).

As `train.tasks.lm_next_token` (same inputs, init and loss), with the
codebook layers' restart statistics ("codebook_stats",
`zoo.vq.codebook_features`) updated at every step from the "restart" rng.
Without restarts there is nothing to update and the step is
`lm_next_token`'s.
"""

import optax
from jax import numpy as jnp

from train.tasks import Task, lm_next_token
from zoo.lm import special_tokens

STATS = "codebook_stats"


def loss(model, variables, inputs, key):
  if STATS not in variables:
    return lm_next_token.loss(model, variables, inputs, key)
  tokens = inputs["tokens"]
  logits, updated = model.apply(variables, tokens[:, :-1], mutable=[STATS],
                                rngs={"restart": key})
  targets = tokens[:, 1:]
  valid = targets != special_tokens.PAD
  losses = optax.softmax_cross_entropy_with_integer_labels(logits, targets)
  count = jnp.maximum(jnp.sum(valid), 1)
  mean = jnp.sum(jnp.where(valid, losses, 0.0)) / count
  accuracy = jnp.sum((jnp.argmax(logits, -1) == targets) & valid) / count
  return mean, ({"nll": mean, "accuracy": accuracy}, dict(updated))


TASK = Task(
    name="codebook_lm",
    features=("tokens",),
    prepare=lm_next_token.prepare,
    init=lm_next_token.init,
    loss=loss,
)
