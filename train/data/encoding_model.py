"""The stimulus codes that drive the synthetic MEG and fMRI generators.

A digit image (scikit-learn's 8x8 digits, `train.data.builders.digits`) has
two codes of `CODE_DIM` numbers each:

* the low-level code: the projection of its 64 pixels on the 16 leading
  principal components of the train split's images, each divided by its
  standard deviation on that split (ours: whitened, so that every dimension
  drives the brain with the same strength);
* the class code: a fixed random vector per digit, N(0, I_16), drawn from
  `numpy.random.default_rng(SEED)` (images of one class share it).

`code` concatenates them: [low-level 16 | class 16]. Everything is a pure
function of the bundled data and the seed.
"""

import dataclasses
import functools

import numpy as np
from sklearn import datasets

from train.data.builders import digits

CODE_DIM = 16
SEED = 0


@dataclasses.dataclass(frozen=True)
class EncodingModel:
  """Attributes:

    mean: [64] mean train image (flattened pixels).
    components: [16, 64] principal axes, divided by their train std.
    class_codes: [10, 16] one random code per digit.
  """

  mean: np.ndarray
  components: np.ndarray
  class_codes: np.ndarray

  def low_level(self, images: np.ndarray) -> np.ndarray:
    """[N, 8, 8] images in [0, 1] -> [N, 16] whitened PCA code."""
    flat = np.asarray(images, np.float64).reshape(len(images), -1)
    return ((flat - self.mean) @ self.components.T).astype(np.float32)

  def class_code(self, labels: np.ndarray) -> np.ndarray:
    """[N] digits -> [N, 16]."""
    labels = np.asarray(labels)
    if labels.size and (labels.min() < 0 or labels.max() >= len(
        self.class_codes)):
      raise ValueError(f"labels must be digits 0-{len(self.class_codes) - 1}, "
                       f"got values in [{labels.min()}, {labels.max()}]")
    return self.class_codes[labels].astype(np.float32)

  def code(self, images: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """[N, 32]: [low-level | class]."""
    return np.concatenate([self.low_level(images), self.class_code(labels)],
                          axis=1)


@dataclasses.dataclass(frozen=True)
class Digits:
  """The bundled digits: images [N, 8, 8] in [0, 1], labels [N], and the
  row indices of each split (`digits.split_indices`)."""

  images: np.ndarray
  labels: np.ndarray
  splits: dict


@functools.cache
def load_digits() -> Digits:
  raw = datasets.load_digits()
  labels = raw.target.astype(np.int64)
  return Digits((raw.images / 16.0).astype(np.float32), labels,
                digits.split_indices(labels))


@functools.cache
def fit(seed: int = SEED) -> EncodingModel:
  """The encoding model: PCA fit on the train split, class codes of `seed`."""
  data = load_digits()
  train = data.images[data.splits["train"]].reshape(-1, 64).astype(np.float64)
  mean = train.mean(0)
  _, singular, axes = np.linalg.svd(train - mean, full_matrices=False)
  std = singular[:CODE_DIM] / np.sqrt(len(train) - 1)
  components = axes[:CODE_DIM] / std[:, None]
  class_codes = np.random.default_rng(seed).normal(
      size=(digits.NUM_CLASSES, CODE_DIM))
  return EncodingModel(mean, components, class_codes)
