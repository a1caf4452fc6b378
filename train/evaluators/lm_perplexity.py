"""Held-out next-token loss of a decoder LM."""

import functools

import jax
import numpy as np
from jax import numpy as jnp

from train.tasks.lm_next_token import token_losses


@functools.partial(jax.jit, static_argnums=0)
def _batch_sums(model, variables, batch):
  losses, valid, logits = token_losses(model, variables, batch["tokens"])
  valid = valid & batch["mask"][:, None]
  correct = (jnp.argmax(logits, -1) == batch["tokens"][:, 1:]) & valid
  return (jnp.sum(jnp.where(valid, losses, 0.0)), jnp.sum(correct),
          jnp.sum(valid))


def evaluate(model, variables, batches, workdir=None) -> dict[str, float]:
  """nll (nats/token), perplexity and next-token accuracy on the split."""
  del workdir  # no plots
  total = np.zeros(3)
  for batch in batches:
    total += np.asarray(jax.device_get(_batch_sums(model, variables, batch)))
  nll = total[0] / max(total[2], 1)
  return {"nll": float(nll), "perplexity": float(np.exp(nll)),
          "accuracy": float(total[1] / max(total[2], 1)),
          "tokens": int(total[2])}
