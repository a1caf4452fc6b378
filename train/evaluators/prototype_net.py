"""A prototype network on held-out images: accuracy, reconstruction, and how
the prototypes read as images (`knn_agreement`)."""

import functools

import jax
import numpy as np
from jax import numpy as jnp

from zoo.interp import prototype_net


@functools.partial(jax.jit, static_argnums=0)
def _batch_sums(model, variables, batch):
  out = model.apply(variables, batch["image"])
  valid = batch["mask"].astype(jnp.float32)
  correct = jnp.argmax(out["logits"], -1) == batch["label"]
  sq_err = jnp.sum((out["recon"] - batch["image"]) ** 2, axis=(1, 2))
  return {"accuracy": jnp.sum(correct * valid),
          "reconstruction_error": jnp.sum(sq_err * valid),
          "nearest_prototype_distance": jnp.sum(
              jnp.min(out["distances"], -1) * valid)}, jnp.sum(valid)


def evaluate(model, variables, batches, workdir=None) -> dict[str, float]:
  """Per-image means over the real rows of `batches`: accuracy,
  reconstruction_error (squared error summed over pixels) and
  nearest_prototype_distance (min_j D_ij, the R2 term)."""
  del workdir  # no plots
  totals, count = {}, 0.0
  for batch in batches:
    sums, n = jax.device_get(_batch_sums(model, variables, batch))
    for k, v in sums.items():
      totals[k] = totals.get(k, 0.0) + float(v)
    count += float(n)
  return {k: v / count for k, v in totals.items()}


def knn_labels(queries: np.ndarray, reference: np.ndarray,
               labels: np.ndarray, k: int = 5) -> np.ndarray:
  """Majority label of each query's k nearest reference rows (L2).

  Args:
    queries: [Q, P]; reference: [N, P]; labels: [N] ints in [0, C).
    k: neighbours; a tie between labels goes to the smaller label.

  Returns:
    [Q] int labels.
  """
  if not 1 <= k <= len(reference):
    raise ValueError(f"knn_labels: k must be in [1, {len(reference)}], "
                     f"got {k}")
  sq = (np.sum(queries**2, 1)[:, None] - 2.0 * queries @ reference.T
        + np.sum(reference**2, 1)[None])
  nearest = np.argsort(sq, axis=1, kind="stable")[:, :k]
  votes = np.apply_along_axis(np.bincount, 1, labels[nearest],
                              minlength=int(labels.max()) + 1)
  return np.argmax(votes, axis=1)


def knn_agreement(model, variables, images: np.ndarray, labels: np.ndarray,
                  k: int = 5) -> float:
  """Fraction of decoded prototypes that a pixel k-NN over `images` [N, H,
  W] (labels [N]) gives the class of their most negative weight."""
  decoded = np.asarray(model.apply(variables, method="decoded_prototypes"))
  predicted = knn_labels(decoded.reshape(len(decoded), -1),
                         np.asarray(images).reshape(len(images), -1),
                         np.asarray(labels), k)
  classes = np.asarray(prototype_net.prototype_classes(
      variables["params"]["last_layer"]))
  return float(np.mean(predicted == classes))
