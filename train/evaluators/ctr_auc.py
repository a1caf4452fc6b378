"""AUC and log loss of a click model, with its table's stored bytes.

The variables are first put in their stored form (the compression method's
`finalize`: PEP's pruning to the budget), so the metrics are those of the
table that `param_bytes` counts.
"""

import functools

import jax
import numpy as np
import optax

from train.data.builders.zipf_ctr import auc
from zoo.vq.embedding_compression import dlrm


@functools.partial(jax.jit, static_argnums=0)
def _logits(model, variables, ids):
  return model.apply(variables, ids)


def predict(model, variables, batches) -> tuple[np.ndarray, np.ndarray]:
  """(labels, logits) over the real rows of `batches`, stored form."""
  variables = dlrm.finalize(model.cfg, variables)
  labels, logits = [], []
  for batch in batches:
    mask = np.asarray(batch["mask"], bool)
    out = np.asarray(_logits(model, variables, batch["ids"]))
    labels.append(np.asarray(batch["label"])[mask])
    logits.append(out[mask])
  return np.concatenate(labels), np.concatenate(logits)


def evaluate(model, variables, batches, workdir=None) -> dict[str, float]:
  """Metrics: auc, logloss, param_bytes, compression_ratio."""
  del workdir  # no plots
  labels, logits = predict(model, variables, batches)
  cfg = model.cfg
  stored = dlrm.param_bytes(cfg)
  full = cfg.num_fields * cfg.ids_per_field * cfg.dim * 4
  return {
      "auc": auc(labels, logits),
      "logloss": float(np.mean(optax.sigmoid_binary_cross_entropy(
          logits, labels))),
      "param_bytes": float(stored),
      "compression_ratio": full / stored,
  }
