"""Set prediction of masks (Mask2Former's criterion, as X-Decoder trains
its generic queries) and semantic inference from query masks.

`set_loss` matches each image's queries to its target segments with the
Hungarian algorithm (`ops.matching.hungarian`) on the cost
w_cls (-p_q(class_m)) + w_bce BCE(q, m) + w_dice Dice(q, m), then adds
the cross-entropy of every query's class (unmatched: "no object", weighed
`NO_OBJECT_WEIGHT`) and the BCE and Dice losses of the matched masks,
averaged over the batch's targets. Weights are Mask2Former's (2, 5, 5;
no object 0.1); BCE and Dice run over all pixels (Mask2Former samples
points: ours, the masks are small).
"""

import jax
from jax import numpy as jnp

from ops.losses import dice_loss, sigmoid_bce
from ops.matching import hungarian

CLASS_WEIGHT, BCE_WEIGHT, DICE_WEIGHT = 2.0, 5.0, 5.0
NO_OBJECT_WEIGHT = 0.1


def mask_losses(logits: jax.Array, targets: jax.Array) -> jax.Array:
  """BCE (pixel mean) and Dice of masks [..., P] vs targets [..., P]
  (broadcast against each other), weighted and summed: [...]."""
  logits, targets = jnp.broadcast_arrays(logits, targets)
  return (BCE_WEIGHT * jnp.mean(sigmoid_bce(logits, targets), axis=-1)
          + DICE_WEIGHT * dice_loss(logits, targets))


def match(masks, classes, targets, target_class, target_valid):
  """The Hungarian assignment of queries to targets.

  Args:
    masks: [B, Q, P] mask logits.
    classes: [B, Q, K + 1] class logits, the last "no object".
    targets: [B, M, P] target masks in [0, 1], M <= Q.
    target_class: [B, M] int in [0, K) (any value where not valid).
    target_valid: [B, M] bool.

  Returns:
    (query, target), each int32 [B, M]: matched pairs, sorted by query.
  """
  probs = jax.nn.softmax(classes, axis=-1)  # [B, Q, K + 1]
  index = jnp.clip(target_class, 0, classes.shape[-1] - 2)
  class_cost = -jnp.take_along_axis(probs, index[:, None, :], axis=2)
  pair = mask_losses(masks[:, :, None, :], targets[:, None, :, :])
  cost = CLASS_WEIGHT * class_cost + pair  # [B, Q, M]
  # Padding targets cost 0 for every query: they cannot sway the others.
  return hungarian(jnp.where(target_valid[:, None, :], cost, 0.0))


def set_loss(masks, classes, targets, target_class, target_valid,
             weight=None) -> tuple[jax.Array, dict[str, jax.Array]]:
  """The matched set loss (see `match` for the arguments' shapes).

  Args:
    weight: [B] per-image weight (0 leaves an image out), default 1.

  Returns:
    (loss, {"class_loss", "mask_loss"}), scalars.
  """
  b, q = masks.shape[:2]
  no_object = classes.shape[-1] - 1
  weight = jnp.ones((b,)) if weight is None else weight.astype(jnp.float32)
  query, target = match(masks, classes, targets, target_class, target_valid)
  valid = jnp.take_along_axis(target_valid, target, axis=1)  # [B, M]
  label = jnp.take_along_axis(target_class, target, axis=1)
  rows = jnp.arange(b)[:, None]
  # Unmatched queries (and those matched to padding) learn "no object".
  query_class = jnp.full((b, q), no_object).at[rows, query].set(
      jnp.where(valid, label, no_object))
  log_probs = jax.nn.log_softmax(classes, axis=-1)
  nll = -jnp.take_along_axis(log_probs, query_class[..., None], axis=2)[
      ..., 0]
  class_weight = jnp.where(query_class == no_object, NO_OBJECT_WEIGHT, 1.0)
  per_image = jnp.sum(nll * class_weight, 1) / jnp.sum(class_weight, 1)
  class_loss = jnp.sum(per_image * weight) / jnp.maximum(weight.sum(), 1.0)
  matched = jnp.take_along_axis(masks, query[..., None], axis=1)
  wanted = jnp.take_along_axis(targets, target[..., None], axis=1)
  pair = mask_losses(matched, wanted) * valid * weight[:, None]
  mask_loss = jnp.sum(pair) / jnp.maximum(
      jnp.sum(valid * weight[:, None]), 1.0)
  return CLASS_WEIGHT * class_loss + mask_loss, {"class_loss": class_loss,
                                                 "mask_loss": mask_loss}


def semantic_labels(masks: jax.Array, classes: jax.Array) -> jax.Array:
  """Mask2Former's semantic inference: pixel p's label is argmax_k
  sum_q softmax(classes_q)[k] sigmoid(masks_q[p]), "no object" dropped.

  Args:
    masks: [B, Q, P] mask logits; classes: [B, Q, K + 1] class logits.

  Returns:
    [B, P] int32 labels in [0, K).
  """
  probs = jax.nn.softmax(classes, axis=-1)[..., :-1]
  scores = jnp.einsum("bqk,bqp->bkp", probs, jax.nn.sigmoid(masks))
  return jnp.argmax(scores, axis=1).astype(jnp.int32)
