"""Train state, optimizer and the generic jitted train step."""

from collections.abc import Callable
from typing import Any

import flax
import flax.linen as nn
import jax
import optax
from jax import numpy as jnp

from train.config import OptimConfig, TrainConfig


@flax.struct.dataclass
class TrainState:
  """Everything that changes during training; plain arrays only.

  `model_state` holds the model's non-parameter collections (EMA statistics,
  frozen random matrices). Per-step randomness is derived from the seed and
  the step, so the state needs no key and resuming replays it exactly.
  """

  step: jax.Array
  params: Any
  model_state: Any
  opt_state: Any


def make_optimizer(cfg: OptimConfig, total_steps: int,
                   wrap=None) -> optax.GradientTransformation:
  """The config's optimizer and schedule; `wrap` (a task's `optimizer`)
  may add constraints around it."""
  if cfg.schedule == "cosine":
    lr = optax.warmup_cosine_decay_schedule(
        0.0, cfg.learning_rate, max(cfg.warmup_steps, 1), max(total_steps, 2))
  elif cfg.warmup_steps:
    lr = optax.linear_schedule(0.0, cfg.learning_rate, cfg.warmup_steps)
  else:
    lr = cfg.learning_rate
  if cfg.name == "adam":
    tx = optax.adam(lr)
  elif cfg.name == "adamw":
    tx = optax.adamw(lr, weight_decay=cfg.weight_decay)
  else:
    tx = optax.sgd(lr)
  if cfg.grad_clip_norm > 0:
    tx = optax.chain(optax.clip_by_global_norm(cfg.grad_clip_norm), tx)
  return tx if wrap is None else wrap(tx)


def step_key(seed: int, step) -> jax.Array:
  """The PRNG key of one train step."""
  return jax.random.fold_in(jax.random.key(seed), step)


def create_state(model: nn.Module, tx, init_batch, key, init_fn) -> TrainState:
  """Initialises params and model state from one batch.

  `init_fn(model, key, batch)` returns the model's variables (the task knows
  which inputs the model takes). Params keep their logical-axis boxes so
  shardings can be derived from `jax.eval_shape` of this function.
  """
  variables = init_fn(model, key, init_batch)
  params = variables.pop("params", {})
  return TrainState(
      step=jnp.zeros((), jnp.int32),
      params=params,
      model_state=dict(variables),
      # Boxed params give boxed moments, so optimizer state shards like
      # the parameters it tracks.
      opt_state=tx.init(params),
  )


def train_step(state: TrainState, batch, *, model, tx, loss_fn: Callable,
               cfg: TrainConfig):
  """One optimizer step; returns (new state, metrics)."""
  key = step_key(cfg.seed, state.step)

  def objective(params):
    variables = {"params": params, **state.model_state}
    return loss_fn(model, variables, batch, key)

  (loss, (metrics, updated)), grads = jax.value_and_grad(
      objective, has_aux=True)(state.params)
  updates, opt_state = tx.update(grads, state.opt_state, state.params)
  params = optax.apply_updates(state.params, updates)
  metrics = dict(metrics, loss=loss, grad_norm=optax.tree.norm(grads))
  new_state = state.replace(
      step=state.step + 1,
      params=params,
      opt_state=opt_state,
      model_state={**state.model_state, **updated},
  )
  return new_state, metrics
