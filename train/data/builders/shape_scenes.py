"""`shape_scenes`: 32x32 RGB scenes of 1-3 coloured shapes, with panoptic
ids, a referring phrase and a caption.

Synthetic stand-in for COCO-panoptic-style data (which cannot be had
offline): claims on it are about mechanisms on synthetic data.

Recipe: scene i is drawn by `numpy.random.default_rng((SEED, i))`. The
background is a grey level uniform in [0.05, 0.35]. The number of shapes
is uniform in {1, 2, 3}; each has a colour (uniform over `COLOURS`), a kind
(uniform over circle, square, triangle), a half-size r uniform in [4, 8]
pixels and a centre uniform in [r, 32 - r]^2 (redrawn, up to 100 times,
while it is closer than 0.75 (r + r') to an earlier shape's centre, so
shapes may overlap but stay visible). Shapes are painted in order, later
on top, by `render.paint` (4x supersampled).

Features:
* `image` [32, 32, 3] uint8 (round(255 x));
* `panoptic` [32, 32] int64: at each pixel centre, 1 + the index of the
  topmost shape covering it, 0 for background (COCO panoptic's id map);
* `category` [3] int64: segment k's class colour * 3 + kind, -1 for
  absent slots; `area` [3] int64: its pixel count in `panoptic`;
* `labels` [15] float32: multi-hot presence of each class (the
  classification target);
* `referring`: "the <colour> <kind>" naming shape `referred` (uniform among
  the shapes);
* `caption`: "a red circle" for one shape; otherwise "<first> <relation>
  <second>", e.g. "red circle left of blue square", the relation that of
  the larger of |dx| and |dy| between their centres (left of, right of,
  above, below), and "and <third>" for a third shape;
* `index`.
Splits: scenes 0-2999 `train`, 3000-3499 `test`.
"""

import numpy as np
import tensorflow_datasets as tfds

from train.data.builders import render

SEED = 20250310
SIZE = 32
NUM_TRAIN, NUM_SCENES = 3000, 3500
MAX_SHAPES = 3
COLOURS = {"red": (0.9, 0.15, 0.1), "green": (0.15, 0.8, 0.2),
           "blue": (0.15, 0.3, 0.95), "yellow": (0.95, 0.85, 0.1),
           "white": (0.95, 0.95, 0.95)}
KINDS = render.KINDS
NUM_CLASSES = len(COLOURS) * len(KINDS)
HALF_SIZE = (4.0, 8.0)
MIN_SEPARATION = 0.75


def class_name(category: int) -> str:
  """"red circle" for class 0 (colour * 3 + kind)."""
  return f"{list(COLOURS)[category // 3]} {KINDS[category % 3]}"


def relation(first: tuple[float, float], second: tuple[float, float]
             ) -> str:
  """Where the first centre (x, y) lies with respect to the second."""
  dx, dy = first[0] - second[0], first[1] - second[1]
  if abs(dx) >= abs(dy):
    return "left of" if dx < 0 else "right of"
  return "above" if dy < 0 else "below"


def _place(rng, placed) -> tuple[float, float, float]:
  for _ in range(100):
    r = rng.uniform(*HALF_SIZE)
    cx, cy = rng.uniform(r, SIZE - r, 2)
    if all(np.hypot(cx - x, cy - y) >= MIN_SEPARATION * (r + s)
           for x, y, s in placed):
      break
  return float(cx), float(cy), float(r)


def generate(index: int) -> dict:
  """Scene `index` (see the module docstring)."""
  rng = np.random.default_rng((SEED, index))
  background = np.full(3, rng.uniform(0.05, 0.35))
  count = int(rng.integers(1, MAX_SHAPES + 1))
  shapes, placed, categories = [], [], []
  for _ in range(count):
    colour = int(rng.integers(len(COLOURS)))
    kind = int(rng.integers(len(KINDS)))
    cx, cy, r = _place(rng, placed)
    placed.append((cx, cy, r))
    categories.append(colour * 3 + kind)
    shapes.append((KINDS[kind], cx, cy, r, list(COLOURS.values())[colour]))
  image, panoptic = render.paint(SIZE, background, shapes)
  referred = int(rng.integers(count))
  names = [class_name(c) for c in categories]
  caption = "a " + names[0] if count == 1 else (
      f"{names[0]} {relation(placed[0][:2], placed[1][:2])} {names[1]}")
  if count == 3:
    caption += f" and {names[2]}"
  category = np.full(MAX_SHAPES, -1, np.int64)
  category[:count] = categories
  area = np.array([(panoptic == k + 1).sum() for k in range(MAX_SHAPES)],
                  np.int64)
  labels = np.zeros(NUM_CLASSES, np.float32)
  labels[categories] = 1.0
  return {"image": np.round(image * 255).astype(np.uint8),
          "panoptic": panoptic, "category": category, "area": area,
          "labels": labels, "referring": f"the {names[referred]}",
          "referred": referred, "caption": caption, "index": index}


class ShapeScenes(tfds.core.GeneratorBasedBuilder):
  """1-3 coloured shapes per 32x32 scene: panoptic ids, phrases, captions."""

  VERSION = tfds.core.Version("1.0.0")
  RELEASE_NOTES = {"1.0.0": "Initial release."}

  def _info(self) -> tfds.core.DatasetInfo:
    tensor = tfds.features.Tensor
    return tfds.core.DatasetInfo(
        builder=self,
        description=__doc__,
        features=tfds.features.FeaturesDict({
            "image": tensor(shape=(SIZE, SIZE, 3), dtype=np.uint8),
            "panoptic": tensor(shape=(SIZE, SIZE), dtype=np.int64),
            "category": tensor(shape=(MAX_SHAPES,), dtype=np.int64),
            "area": tensor(shape=(MAX_SHAPES,), dtype=np.int64),
            "labels": tensor(shape=(NUM_CLASSES,), dtype=np.float32),
            "referring": tfds.features.Text(),
            "referred": tfds.features.Scalar(dtype=np.int64),
            "caption": tfds.features.Text(),
            "index": tfds.features.Scalar(dtype=np.int64),
        }),
        metadata=tfds.core.MetadataDict(colours=list(COLOURS), kinds=KINDS,
                                        seed=SEED),
    )

  def _split_generators(self, dl_manager):
    del dl_manager  # Procedural: nothing to read.
    return {"train": self._generate_examples(range(NUM_TRAIN)),
            "test": self._generate_examples(range(NUM_TRAIN, NUM_SCENES))}

  def _generate_examples(self, indices):
    for i in indices:
      yield i, generate(i)
