"""X-Decoder's generic and referring segmentation on `shape_scenes`.

The claim is about the mechanism on synthetic data, not the paper's
datasets. Each scene gives up to 4 target segments: the background (a
"stuff" segment, class "background") and its 1-3 shapes (class "<colour>
<kind>"), each its pixels in the panoptic id map; segments with no pixel
(a shape wholly covered) are padding. The referring phrase "the <colour>
<kind>" is read as text queries; its target is every pixel of that class
(ours: when two shapes share the class the phrase names both).

Held-out pairs (derived here; the builder is unchanged): `UNSEEN`, one
(colour, kind) pair per colour, colour i with kind i mod 3 (red circle,
green square, blue triangle, yellow circle, white square). The training
vocabulary `TRAIN_CLASS_NAMES` is the other 10 and "background". A scene
is trained on only if every class it holds is in the model's
`class_names` (`in_vocabulary`); the loss gives other scenes weight 0,
and the claim check drops them, so no unseen pair is ever trained on.

Loss (summed over the stage before the first decoder layer and after
each): `zoo.vision.mask_sets.set_loss` on the generic queries' masks and
classes over `class_names` (+ no object), plus the referring mask's BCE
and Dice (`mask_losses`). Ours: the losses run on the mask logits' grid
(H/2 x W/2), against targets area-averaged onto it (soft at edges);
evaluation upsamples the logits to the image instead.
"""

import functools

import numpy as np
from jax import numpy as jnp

from train.data.builders import shape_scenes
from train.tasks import Task
from train.tasks.depth_regression import image_input
from zoo.arch import xdecoder
from zoo.vision import mask_sets

UNSEEN = tuple(c * 3 + c % 3 for c in range(len(xdecoder.COLOURS)))
TRAIN_CLASS_NAMES = tuple(n for i, n in enumerate(xdecoder.CLASS_NAMES)
                          if i - 1 not in UNSEEN)
MAX_SEGMENTS = shape_scenes.MAX_SHAPES + 1
PHRASE_LENGTH = 4  # "the <colour> <kind> <end>"


def segment_classes(category, area) -> np.ndarray:
  """[B, 3] categories and areas -> [B, 4] indices into `xdecoder.
  CLASS_NAMES` (background first), -1 for padding."""
  category, area = np.asarray(category), np.asarray(area)
  shapes = np.where((category >= 0) & (area > 0), category + 1, -1)
  return np.concatenate([np.zeros((len(shapes), 1), np.int64), shapes], 1)


def prepare(examples):
  panoptic = np.asarray(examples["panoptic"])
  b, h, w = panoptic.shape
  segments = panoptic[:, None] == np.arange(MAX_SEGMENTS)[None, :, None,
                                                          None]
  category = np.asarray(examples["category"])
  referred = np.take_along_axis(
      category, np.asarray(examples["referred"])[:, None], axis=1)  # [B, 1]
  same = (category == referred) & (category >= 0)  # [B, 3]
  target = np.any(segments[:, 1:] & same[:, :, None, None], axis=1)
  return {"image": image_input(examples["image"]),
          "segments": segments.reshape(b, MAX_SEGMENTS, h * w).astype(
              np.float32),
          "segment_class": segment_classes(category, examples["area"]
                                           ).astype(np.int32),
          "phrase": xdecoder.tokenize(examples["referring"], PHRASE_LENGTH),
          "referred_mask": target.reshape(b, h * w).astype(np.float32),
          "referred_class": (referred[:, 0] + 1).astype(np.int32)}


@functools.lru_cache(maxsize=16)
def vocabulary_index(class_names: tuple[str, ...]) -> np.ndarray:
  """[16] index of each of `xdecoder.CLASS_NAMES` in class_names, -1 if
  absent."""
  where = {n: i for i, n in enumerate(class_names)}
  return np.array([where.get(n, -1) for n in xdecoder.CLASS_NAMES],
                  np.int32)


def in_vocabulary(segment_class, class_names) -> np.ndarray:
  """[B] bool: every (non-padding) segment's class is in class_names."""
  index = vocabulary_index(tuple(class_names))
  segment_class = np.asarray(segment_class)
  known = np.where(segment_class >= 0, index[segment_class] >= 0, True)
  return np.all(known, axis=1)


def area_pool(masks, size: int, side: int):
  """[..., size * size] masks -> [..., side * side]: the share of each
  coarse cell's pixels (the mask logits' grid)."""
  f = size // side
  cells = masks.reshape(*masks.shape[:-1], side, f, side, f)
  return cells.mean(axis=(-3, -1)).reshape(*masks.shape[:-1], side * side)


def init(model, key, inputs):
  return model.init({"params": key}, inputs["image"],
                    xdecoder.tokenize(model.cfg.class_names),
                    inputs["phrase"])


def loss(model, variables, inputs, key):
  del key  # deterministic
  cfg = model.cfg
  out = model.apply(variables, inputs["image"],
                    xdecoder.tokenize(cfg.class_names), inputs["phrase"])
  index = jnp.asarray(vocabulary_index(cfg.class_names))
  segment_class = inputs["segment_class"]
  padding = segment_class < 0
  target_class = jnp.where(padding, -1, index[jnp.maximum(segment_class,
                                                          0)])
  weight = jnp.all(padding | (target_class >= 0), axis=1).astype(
      jnp.float32)
  stages, b, q, h, w = out["masks"].shape
  masks = out["masks"].reshape(stages, b, q, h * w)
  referring = out["referring"].reshape(stages, b, h * w)
  segments = area_pool(inputs["segments"], cfg.image_size, h)
  referred = area_pool(inputs["referred_mask"], cfg.image_size, h)
  refer_weight = weight * (referred.sum(-1) > 0)
  total = 0.0
  for s in range(stages):
    generic, parts = mask_sets.set_loss(
        masks[s], out["classes"][s], segments, target_class,
        ~padding, weight)
    refer = jnp.sum(mask_sets.mask_losses(referring[s], referred)
                    * refer_weight) / jnp.maximum(refer_weight.sum(), 1.0)
    total = total + generic + refer
  metrics = {**parts, "referring_loss": refer,
             "trained_fraction": jnp.mean(weight)}
  return total, (metrics, {})


TASK = Task(
    name="open_vocab_segmentation",
    features=("image", "panoptic", "category", "area", "referring",
              "referred"),
    prepare=prepare,
    init=init,
    loss=loss,
)
