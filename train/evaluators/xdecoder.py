"""X-Decoder on held-out `shape_scenes` (`open_vocab_segmentation`
batches; padding rows weigh 0).

Generic segmentation is scored open-vocabulary: the class list is all 16
names (`xdecoder.CLASS_NAMES`: background and the 15 colour-kind pairs),
whatever the model trained on; each pixel takes Mask2Former's semantic
label from the last decoder stage (`mask_sets.semantic_labels`). IoU per
class = intersection / union summed over the split; `miou_seen` averages
the shape classes in the model's training vocabulary (`cfg.class_names`),
`miou_unseen` the others (zero-shot), `zero_shot_ratio` is their ratio.
Referring: the last text query's mask (logit > 0) against the phrase's
target, IoU per scene, averaged over scenes whose phrase names a seen
(`referring_miou_seen`) or an unseen pair (`referring_miou_unseen`).
"""

import functools

import jax
import numpy as np
from jax import numpy as jnp

from zoo.arch import xdecoder
from zoo.vision import mask_sets


@functools.partial(jax.jit, static_argnums=0)
def _batch_stats(model, variables, batch, class_ids):
  out = model.apply(variables, batch["image"], class_ids, batch["phrase"])
  size = model.cfg.image_size
  masks = xdecoder.upsample(out["masks"][-1], size)
  masks = masks.reshape(*masks.shape[:2], size * size)
  predicted = mask_sets.semantic_labels(masks, out["classes"][-1])
  truth = jnp.einsum("bsp,bs->bp", batch["segments"],
                     jnp.maximum(batch["segment_class"], 0)).astype(jnp.int32)
  k = class_ids.shape[0]
  valid = batch["mask"][:, None, None]
  hit_p = (predicted[..., None] == jnp.arange(k)) & valid  # [B, P, K]
  hit_t = (truth[..., None] == jnp.arange(k)) & valid
  intersection = jnp.sum(hit_p & hit_t, axis=(0, 1))
  union = jnp.sum(hit_p | hit_t, axis=(0, 1))
  referring = xdecoder.upsample(out["referring"][-1], size).reshape(
      -1, size * size) > 0
  target = batch["referred_mask"] > 0.5
  iou = jnp.sum(referring & target, -1) / jnp.maximum(
      jnp.sum(referring | target, -1), 1)
  scored = batch["mask"] & jnp.any(target, -1)
  return intersection, union, iou, scored


def evaluate(model, variables, batches, workdir=None) -> dict[str, float]:
  """miou_seen, miou_unseen, zero_shot_ratio, background_iou and the
  referring mIoUs (see the module docstring)."""
  del workdir  # no plots
  class_ids = xdecoder.tokenize(xdecoder.CLASS_NAMES)
  seen = np.array([n in model.cfg.class_names for n in
                   xdecoder.CLASS_NAMES])
  intersection = union = 0
  ious, classes = [], []
  for batch in batches:
    i, u, iou, scored = jax.device_get(_batch_stats(model, variables, batch,
                                                    class_ids))
    intersection, union = intersection + i, union + u
    ious.append(iou[scored])
    classes.append(np.asarray(batch["referred_class"])[scored])
  per_class = intersection / np.maximum(union, 1)
  shapes = np.arange(len(seen)) > 0
  ious, classes = np.concatenate(ious), np.concatenate(classes)
  metrics = {"background_iou": float(per_class[0]),
             "referring_miou": float(np.mean(ious))}
  for name, chosen in (("seen", seen), ("unseen", ~seen)):
    if np.any(shapes & chosen):
      metrics[f"miou_{name}"] = float(np.mean(per_class[shapes & chosen]))
    if np.any(chosen[classes]):
      metrics[f"referring_miou_{name}"] = float(np.mean(
          ious[chosen[classes]]))
  if "miou_unseen" in metrics:
    metrics["zero_shot_ratio"] = metrics["miou_unseen"] / max(
        metrics["miou_seen"], 1e-9)
  return metrics
