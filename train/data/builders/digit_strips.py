"""`digit_strips`: lines of 1-8 handwritten digits, for text recognition.

Each strip is a 16x96 image holding k digits (k uniform in 1..8) of
scikit-learn's bundled 8x8 digits, left to right without overlap, like the
tight crop of a text line that a detector hands to a recognizer: the line
starts 0..4 pixels from the left edge, each gap between digits is 0..3
pixels and each digit sits at its own vertical offset in 0..8 (all
uniform), so the i-th digit's column varies more the further right it is.

Features: `image` uint8 [16, 96], pixel counts 0..16 as in the source
(divide by 16 for [0, 1]); `label` int32 [9], the digits as tokens
(`zoo.vision.recognition.label_tokens`: digit d is token 4 + d), then EOS,
then PAD; `length` the number of digits; `indices` int64 [8], the rows of
`sklearn.datasets.load_digits()` used, -1 after the last.

Splits: `train` (20,000 strips) draws only from the `digits` dataset's train
images and `test` (2,000) only from its test images, so no handwritten
digit appears in both. Strips are drawn with numpy's PCG64 generator seeded
by the split, so every build writes the same strips.
"""

import numpy as np
import tensorflow_datasets as tfds
from sklearn import datasets

from train.data.builders import digits
from zoo.vision.recognition import label_tokens

HEIGHT, WIDTH = 16, 96
DIGIT_SIZE = 8
MAX_DIGITS = 8
MAX_START, MAX_GAP = 4, 3
SIZES = {"train": 20_000, "test": 2_000}
_SEEDS = {"train": 0, "test": 1}


def compose(rng: np.random.Generator, glyphs: np.ndarray
            ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
  """Places glyphs [k, 8, 8] left to right on an empty strip.

  Returns:
    (strip [HEIGHT, WIDTH] of glyphs' dtype, left columns [k], top rows [k]).
  """
  k = len(glyphs)
  if not 1 <= k <= MAX_DIGITS:
    raise ValueError(f"compose: needs 1..{MAX_DIGITS} glyphs, got {k}")
  gaps = rng.integers(0, MAX_GAP + 1, size=k - 1)
  lefts = (rng.integers(0, MAX_START + 1) + DIGIT_SIZE * np.arange(k)
           + np.concatenate([[0], np.cumsum(gaps)]))
  tops = rng.integers(0, HEIGHT - DIGIT_SIZE + 1, size=k)
  strip = np.zeros((HEIGHT, WIDTH), glyphs.dtype)
  for glyph, left, top in zip(glyphs, lefts, tops):
    strip[top:top + DIGIT_SIZE, left:left + DIGIT_SIZE] = glyph
  return strip, lefts, tops


def strips(images: np.ndarray, labels: np.ndarray, pool: np.ndarray,
           num: int, seed: int):
  """Yields `num` examples built from the digit images whose rows are in
  `pool`; images [n, 8, 8] uint8 counts, labels [n]."""
  rng = np.random.default_rng(seed)
  for _ in range(num):
    k = int(rng.integers(1, MAX_DIGITS + 1))
    chosen = rng.choice(pool, size=k)
    strip, _, _ = compose(rng, images[chosen])
    indices = np.full(MAX_DIGITS, -1, np.int64)
    indices[:k] = chosen
    yield {"image": strip, "label": label_tokens(labels[chosen], MAX_DIGITS),
           "length": k, "indices": indices}


def split_pools(labels: np.ndarray) -> dict[str, np.ndarray]:
  """The digit rows each split draws from: the `digits` dataset's split."""
  return {split: np.array(indices)
          for split, indices in digits.split_indices(labels).items()}


class DigitStrips(tfds.core.GeneratorBasedBuilder):
  """Strips of 1-8 scikit-learn digits with their digit strings."""

  VERSION = tfds.core.Version("1.0.0")
  RELEASE_NOTES = {"1.0.0": "Initial release."}

  def _info(self) -> tfds.core.DatasetInfo:
    return tfds.core.DatasetInfo(
        builder=self,
        description=__doc__,
        features=tfds.features.FeaturesDict({
            "image": tfds.features.Tensor(shape=(HEIGHT, WIDTH),
                                          dtype=np.uint8),
            "label": tfds.features.Tensor(shape=(MAX_DIGITS + 1,),
                                          dtype=np.int32),
            "length": tfds.features.Scalar(dtype=np.int32),
            "indices": tfds.features.Tensor(shape=(MAX_DIGITS,),
                                            dtype=np.int64),
        }),
        supervised_keys=("image", "label"),
        homepage=(
            "https://scikit-learn.org/stable/datasets/toy_dataset.html"
            "#optical-recognition-of-handwritten-digits-dataset"
        ),
    )

  def _split_generators(self, dl_manager):
    del dl_manager  # The data ships inside scikit-learn.
    source = datasets.load_digits()
    images = source.images.astype(np.uint8)
    labels = source.target.astype(np.int64)
    return {
        split: self._generate_examples(images, labels, pool, split)
        for split, pool in split_pools(labels).items()
    }

  def _generate_examples(self, images, labels, pool, split):
    yield from enumerate(
        strips(images, labels, pool, SIZES[split], _SEEDS[split]))
