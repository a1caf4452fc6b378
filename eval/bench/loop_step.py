"""One training step of the shared loop as a stateful callable, for timing
the zoo beside peers whose optimisers hold their own state."""

import flax.linen as nn
import jax

from train.state import create_state, make_optimizer, train_step


def stepper(model, cfg, task, first: dict, input_name: str = "x", tx=None):
  """`one(batch)`: a jitted `train_step` of `model` under `tx` (default:
  `cfg`'s optimizer, wrapped by the task's, if any) on {input_name: batch},
  state kept between calls and donated; waits for the step to finish."""
  if tx is None:
    tx = make_optimizer(cfg.optim, cfg.steps, task.optimizer)
  state = jax.jit(lambda: nn.meta.unbox(create_state(
      model, tx, first, jax.random.key(0), task.init)))()
  step = jax.jit(lambda s, b: train_step(s, b, model=model, tx=tx,
                                         loss_fn=task.loss, cfg=cfg),
                 donate_argnums=0)
  holder = {"state": state}

  def one(batch):
    holder["state"], metrics = step(holder["state"], {input_name: batch})
    jax.block_until_ready(metrics["loss"])

  return one
