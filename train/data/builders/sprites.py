"""`sprites`: procedural dSprites-like 32x32 images with exact factors.

Recipe: every combination of four factors, one white sprite on a black
32x32 canvas (768 images):

* shape (3): square, circle, triangle (apex up);
* scale (4): half-size r in {3, 4, 5, 6} pixels;
* x, y (8 each): the sprite's centre at `linspace(7, 25, 8)` pixels, so the
  largest sprite stays inside the canvas.

A pixel (row i, column j) is on when its centre (i + 0.5, j + 0.5) lies in
the shape: the square |dx|, |dy| <= r, the circle dx^2 + dy^2 <= r^2, the
triangle -r <= dy <= r with |dx| <= (dy + r) / 2 (dy grows downwards).
`image` is float32 in {0, 1}; `factors` is [shape, scale, x, y] (int64
indices); `index` is `((shape * 4 + scale) * 8 + x) * 8 + y`.

Splits: `test` holds 96 images drawn without replacement by
`numpy.random.default_rng(SEED)`, `train` the other 672. The images have no
randomness; the seed only picks the split. Read all 768 with "train+test".
"""

import numpy as np
import tensorflow_datasets as tfds

SIZE = 32
SHAPES = ("square", "circle", "triangle")
HALF_SIZES = (3, 4, 5, 6)
CENTRES = np.linspace(7.0, 25.0, 8)
FACTORS = ("shape", "scale", "x", "y")
FACTOR_SIZES = (len(SHAPES), len(HALF_SIZES), len(CENTRES), len(CENTRES))
SEED = 20230528
NUM_TEST = 96


def render(shape: int, scale: int, x: int, y: int) -> np.ndarray:
  """The [SIZE, SIZE] float32 image of one factor combination."""
  r = HALF_SIZES[scale]
  centres = np.arange(SIZE) + 0.5
  dy = centres[:, None] - CENTRES[y]  # rows
  dx = centres[None, :] - CENTRES[x]  # columns
  if SHAPES[shape] == "square":
    on = (np.abs(dx) <= r) & (np.abs(dy) <= r)
  elif SHAPES[shape] == "circle":
    on = dx**2 + dy**2 <= r**2
  else:
    on = (np.abs(dy) <= r) & (np.abs(dx) <= (dy + r) / 2)
  return on.astype(np.float32)


def all_factors() -> np.ndarray:
  """[768, 4] int64 factor indices, in `index` order."""
  grids = np.meshgrid(*[np.arange(n) for n in FACTOR_SIZES], indexing="ij")
  return np.stack([g.reshape(-1) for g in grids], axis=1).astype(np.int64)


def split_indices() -> dict[str, list[int]]:
  """Image indices of each split (see the module docstring)."""
  total = int(np.prod(FACTOR_SIZES))
  test = set(np.random.default_rng(SEED).choice(total, NUM_TEST,
                                                replace=False).tolist())
  return {"train": [i for i in range(total) if i not in test],
          "test": sorted(test)}


class Sprites(tfds.core.GeneratorBasedBuilder):
  """dSprites-like shapes at every scale and position, with their factors."""

  VERSION = tfds.core.Version("1.0.0")
  RELEASE_NOTES = {"1.0.0": "Initial release."}

  def _info(self) -> tfds.core.DatasetInfo:
    return tfds.core.DatasetInfo(
        builder=self,
        description=__doc__,
        features=tfds.features.FeaturesDict({
            "image": tfds.features.Tensor(shape=(SIZE, SIZE),
                                          dtype=np.float32),
            "factors": tfds.features.Tensor(shape=(len(FACTORS),),
                                            dtype=np.int64),
            "index": tfds.features.Scalar(dtype=np.int64),
        }),
        homepage="https://github.com/google-deepmind/dsprites-dataset",
        metadata=tfds.core.MetadataDict(factors=FACTORS,
                                        factor_sizes=FACTOR_SIZES,
                                        seed=SEED),
    )

  def _split_generators(self, dl_manager):
    del dl_manager  # Procedural: nothing to read.
    factors = all_factors()
    return {split: self._generate_examples(factors, indices)
            for split, indices in split_indices().items()}

  def _generate_examples(self, factors, indices):
    for i in indices:
      yield int(i), {"image": render(*factors[i]), "factors": factors[i],
                     "index": int(i)}
