"""`digits`: scikit-learn's bundled 8x8 handwritten digits (1,797 images).

`image` is the 8x8 grid of pixel counts divided by 16, so in [0, 1];
`index` is the row in `sklearn.datasets.load_digits()`.

Splits: `test` holds 36 images of each digit, those whose
`sha1("digits:<index>")` are smallest among that digit's images; `train` holds
the other 1,437. The split depends only on the data, not on any library's
random numbers. Read all 1,797 images with the split string "train+test".
"""

import numpy as np
import tensorflow_datasets as tfds
from sklearn import datasets

from train.data.builders import common

NUM_CLASSES = 10
TEST_PER_CLASS = 36


def test_indices(labels: np.ndarray) -> frozenset[int]:
  """The indices of the test images, `TEST_PER_CLASS` of each label."""
  chosen = []
  for label in range(NUM_CLASSES):
    members = np.flatnonzero(labels == label).tolist()
    members.sort(key=lambda i: common.stable_hash(f"digits:{i}"))
    chosen += members[:TEST_PER_CLASS]
  return frozenset(chosen)


def split_indices(labels) -> dict[str, list[int]]:
  """Row indices of each split: `test_indices`, and the rest for train."""
  test = test_indices(labels)
  return {"train": [i for i in range(len(labels)) if i not in test],
          "test": sorted(test)}


class Digits(tfds.core.GeneratorBasedBuilder):
  """The 8x8 digits bundled with scikit-learn, scaled to [0, 1]."""

  VERSION = tfds.core.Version("1.0.0")
  RELEASE_NOTES = {"1.0.0": "Initial release."}

  def _info(self) -> tfds.core.DatasetInfo:
    return tfds.core.DatasetInfo(
        builder=self,
        description=__doc__,
        features=tfds.features.FeaturesDict({
            "image": tfds.features.Tensor(shape=(8, 8), dtype=np.float32),
            "label": tfds.features.ClassLabel(num_classes=NUM_CLASSES),
            "index": tfds.features.Scalar(dtype=np.int64),
        }),
        supervised_keys=("image", "label"),
        homepage=(
            "https://scikit-learn.org/stable/datasets/toy_dataset.html"
            "#optical-recognition-of-handwritten-digits-dataset"
        ),
        citation=(
            "Alpaydin, E. and Kaynak, C. (1998). Optical Recognition of "
            "Handwritten Digits. UCI Machine Learning Repository. "
            "https://doi.org/10.24432/C50P49"
        ),
    )

  def _split_generators(self, dl_manager):
    del dl_manager  # The data ships inside scikit-learn.
    digits = datasets.load_digits()
    images = (digits.images / 16.0).astype(np.float32)
    labels = digits.target.astype(np.int64)
    return {split: self._generate_examples(images, labels, indices)
            for split, indices in split_indices(labels).items()}

  def _generate_examples(self, images, labels, indices):
    for i in indices:
      yield i, {"image": images[i], "label": labels[i], "index": i}
