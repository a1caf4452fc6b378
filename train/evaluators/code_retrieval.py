"""Retrieval of stimulus codes from brain recordings (MEG, fMRI decoders).

Every real row of the batches is a trial of one image, whose id is
"image". The model's `retrieval_pair(inputs)` gives each trial's prediction
and its image's target ([B, d] each: a code, an image embedding); the
candidates are the targets of the split's distinct images, ranked by cosine
similarity to the prediction; rank 0 is the best.
"""

import functools

import jax
import numpy as np


def ranks(predicted: np.ndarray, candidates: np.ndarray,
          target: np.ndarray) -> np.ndarray:
  """The rank of each trial's own image among the candidates.

  Args:
    predicted: [N, d] predictions.
    candidates: [M, d] candidate codes.
    target: [N] index of each trial's image in `candidates`.

  Returns:
    [N] int ranks in [0, M): how many candidates score strictly higher
    (ties counted in the trial's favour).
  """
  unit = lambda x: x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True),
                                  1e-12)
  scores = unit(np.asarray(predicted, np.float64)) @ unit(
      np.asarray(candidates, np.float64)).T
  own = scores[np.arange(len(target)), target]
  return np.sum(scores > own[:, None], axis=1)


def metrics(predicted, candidates, target) -> dict[str, float]:
  """top1, top5 (fractions), median_rank and the top5 of chance."""
  r = ranks(predicted, candidates, target)
  return {"top1": float(np.mean(r < 1)), "top5": float(np.mean(r < 5)),
          "median_rank": float(np.median(r)),
          "chance_top5": min(5, len(candidates)) / len(candidates)}


@functools.partial(jax.jit, static_argnums=0)
def _pair(model, variables, inputs):
  return model.apply(variables, inputs, method="retrieval_pair")


def candidate_set(images: np.ndarray, targets: np.ndarray
                  ) -> tuple[np.ndarray, np.ndarray]:
  """(candidates [M, d], index [N] of each trial's) from the trials' image
  ids [N] and targets [N, d]."""
  _, first, target = np.unique(images, return_index=True,
                               return_inverse=True)
  return targets[first], target


def evaluate(model, variables, batches, workdir=None) -> dict[str, float]:
  """Retrieval among the split's distinct images: top1, top5, ..."""
  del workdir  # no plots
  predicted, targets, images = [], [], []
  for batch in batches:
    mask = np.asarray(batch["mask"], bool)
    inputs = {k: v for k, v in batch.items() if k != "mask"}
    prediction, target = _pair(model, variables, inputs)
    predicted.append(np.asarray(prediction)[mask])
    targets.append(np.asarray(target)[mask])
    images.append(np.asarray(batch["image"])[mask])
  candidates, target = candidate_set(np.concatenate(images),
                                     np.concatenate(targets))
  return metrics(np.concatenate(predicted), candidates, target)
