"""Click-through prediction on `zipf_ctr`: binary cross-entropy.

The model maps ids [batch, fields] to logits [batch]; losses a compressed
embedding sows into "losses" (product quantization's codebook and
commitment terms) are added to the cross-entropy. Methods that read id
frequencies get the counts of the training split at initialisation.
"""

import jax
import numpy as np
import optax
from jax import numpy as jnp

from train.data.builders import zipf_ctr
from train.tasks import Task
from zoo.vq.embedding_compression import dlrm


def prepare(examples):
  """{"ids": [B, F], "label": [B]} -> {"ids" int32, "label" float32}."""
  return {"ids": np.asarray(examples["ids"], np.int32),
          "label": np.asarray(examples["label"], np.float32)}


def init(model, key, inputs):
  variables = model.init({"params": key}, inputs["ids"])
  variables = {c: v for c, v in variables.items() if c != "losses"}
  if "frequency" in variables:
    variables = dlrm.with_frequencies(variables, zipf_ctr.generate().train_ids)
  return variables


def loss(model, variables, inputs, key):
  del key  # deterministic
  logits, sown = model.apply(variables, inputs["ids"], mutable=["losses"])
  bce = jnp.mean(optax.sigmoid_binary_cross_entropy(logits, inputs["label"]))
  aux = sum((jnp.sum(v) for v in jax.tree.leaves(sown.get("losses", {}))),
            jnp.zeros((), jnp.float32))
  return bce + aux, ({"bce": bce, "aux_loss": aux}, {})


TASK = Task(
    name="ctr_bce",
    features=("ids", "label"),
    prepare=prepare,
    init=init,
    loss=loss,
)
