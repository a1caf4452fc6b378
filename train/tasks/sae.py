"""Sparse autoencoder training on activation vectors (`zoo.interp.sae`).

Reads any dataset with a float `vector` feature [d]: synthetic
superposition data, or a model's activations at a hook point. The loss is
`sae_loss` (MSE plus the config's sparsity, AuxK and AFA terms); the
optimizer keeps the decoder rows unit-norm (`unit_norm_decoder`).
"""

import numpy as np

from train.tasks import Task
from zoo.errors import ConfigError
from zoo.interp.sae import (
    STATS,
    init_b_dec,
    sae_loss,
    sae_metrics,
    unit_norm_decoder,
)


def prepare(examples):
  """{"vector": [B, d]} -> {"x": [B, d] float32}."""
  return {"x": np.asarray(examples["vector"], np.float32)}


def init(model, key, inputs):
  """Params from the first batch, b_dec centred on it per the config."""
  width = inputs["x"].shape[-1]
  if width != model.config.d_in:
    raise ConfigError(f"model.d_in={model.config.d_in}, but the dataset's "
                      f"vectors have width {width}")
  variables = model.init({"params": key}, inputs["x"])
  return init_b_dec(variables, inputs["x"], model.config.b_dec_init)


def loss(model, variables, inputs, key):
  del key
  x = inputs["x"]
  out, updated = model.apply(variables, x, mutable=[STATS])
  inactive = updated[STATS]["inactive"]
  total, terms = sae_loss(model.config, variables["params"], out, x,
                          inactive)
  metrics = dict(terms, **sae_metrics(x, out, inactive,
                                      model.config.dead_after))
  return total, (metrics, dict(updated))


TASK = Task(
    name="sae",
    features=("vector",),
    prepare=prepare,
    init=init,
    loss=loss,
    optimizer=unit_norm_decoder,
)
