"""Future token prediction (FTP): each sampled state decodes the next N
tokens, weighted g^(j-1).

Inputs: {"tokens": int32 [B, L + 1]}. Per row, K = positions_per_window
distinct positions t <= L - N are drawn uniformly (the step's key); the
loss is sum_j g^(j-1) CE_j / sum_j g^(j-1), averaged over the B K states.
Metrics: the loss, `next_token_nll` (CE_1) and `accuracy` of x_{t+1}.
"""

import jax
import numpy as np
import optax
from jax import numpy as jnp

from train.tasks import Task, lm_next_token
from zoo.lm.ftp import FTP


def sample_positions(key, batch: int, length: int, future: int, count: int):
  """[B, count] distinct positions in [0, length - future], per row."""
  span = length - future + 1
  if count > span:
    raise ValueError(f"future_tokens: {count} positions per window need "
                     f"windows of at least {count + future - 1} tokens, got "
                     f"{length}")
  noise = jax.random.uniform(key, (batch, span))
  return jnp.argsort(noise, axis=1)[:, :count]


def prepare(examples):
  return {"tokens": np.asarray(examples["tokens"], np.int32)}


def loss(model, variables, inputs, key):
  cfg = model.config
  tokens = inputs["tokens"]
  positions = sample_positions(key, tokens.shape[0], tokens.shape[1] - 1,
                               cfg.future, cfg.positions_per_window)
  logits, targets = model.apply(variables, tokens, positions,
                                method=FTP.future_logits)
  ce = optax.softmax_cross_entropy_with_integer_labels(logits, targets)
  per_offset = ce.mean(axis=(0, 1))  # [N]
  total = jnp.sum(per_offset * cfg.weights())
  correct = jnp.argmax(logits[..., 0, :], -1) == targets[..., 0]
  return total, ({"ftp_loss": total, "next_token_nll": per_offset[0],
                  "accuracy": correct.mean()}, {})


TASK = Task(
    name="future_tokens",
    features=("tokens",),
    prepare=prepare,
    init=lm_next_token.init,
    loss=loss,
)
