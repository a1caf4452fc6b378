"""Training a system's config on arrays held in memory, for claim checks.

The task's `prepare`, `init` and `loss` and the shared optimizer step
(`train.state.train_step`), with batches drawn as the pipeline draws them
(a fresh permutation of the examples per epoch, seeded by (seed, epoch)),
but no TFDS, checkpoints or workdir.
"""

import functools
import sys

import flax.linen as nn
import jax
import numpy as np

from train.state import create_state, make_optimizer, train_step
from zoo import registry


def train(cfg, task, examples: dict[str, np.ndarray], log_every: int = 100):
  """Trains `cfg` on `examples` ({feature: [N, ...]}); returns (model,
  variables)."""
  model = registry.build(cfg.system, cfg.model)
  tx = make_optimizer(cfg.optim, cfg.steps, task.optimizer)
  size = cfg.data.batch_size
  n = len(next(iter(examples.values())))
  epochs = -(-cfg.steps * size // n)
  order = np.concatenate([np.random.default_rng((cfg.seed, e)).permutation(n)
                          for e in range(epochs)])
  batch = lambda rows: task.prepare({k: v[rows] for k, v in examples.items()})
  first = batch(order[:size])
  state = jax.jit(lambda: nn.meta.unbox(create_state(
      model, tx, first, jax.random.key(cfg.seed), task.init)))()
  step = jax.jit(functools.partial(train_step, model=model, tx=tx,
                                   loss_fn=task.loss, cfg=cfg),
                 donate_argnums=0)
  for s in range(cfg.steps):
    state, metrics = step(state, batch(order[s * size:(s + 1) * size]))
    if s % log_every == 0 or s == cfg.steps - 1:
      print(f"{cfg.system} step {s}: loss {float(metrics['loss']):.4f}",
            file=sys.stderr)
  return model, {"params": state.params, **state.model_state}
