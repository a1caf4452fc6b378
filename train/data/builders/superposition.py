"""`superposition`: sparse non-negative mixtures of more unit directions than
dimensions, the synthetic subject of the SAE systems (`zoo.interp.top_afa`).

Recipe (ours, after Lee et al. 2025's toy; fixed and stored in the metadata
with the seed): 512 ground-truth features, unit vectors in d = 64 drawn as
normalised standard normals from `numpy.random.default_rng(SEED)`. An
example draws its support size s uniform in {2, ..., 10}, s distinct
features uniform without replacement, and their magnitudes i.i.d.
U[0.5, 1.5]; its vector is sum_j m_j u_{i_j}. The same generator then draws
32,768 train and 4,096 test examples, in that order.

Features: "vector" float32 [64]; "support" int32, the true s; "features"
int32 [10], the active feature ids, -1 past s; "magnitudes" float32 [10],
their magnitudes, 0 past s. `generate()` gives the same arrays without
TFDS, and `dictionary()` the [512, 64] ground-truth directions.
"""

import dataclasses
import json

import numpy as np
import tensorflow_datasets as tfds

SEED = 20250331


@dataclasses.dataclass(frozen=True)
class Recipe:
  num_features: int = 512
  dim: int = 64
  min_support: int = 2
  max_support: int = 10
  magnitude_low: float = 0.5
  magnitude_high: float = 1.5
  num_train: int = 32_768
  num_test: int = 4_096


RECIPE = Recipe()


def _directions(rng: np.random.Generator, recipe: Recipe) -> np.ndarray:
  u = rng.standard_normal((recipe.num_features, recipe.dim))
  return (u / np.linalg.norm(u, axis=1, keepdims=True)).astype(np.float32)


def _examples(rng: np.random.Generator, recipe: Recipe, directions,
              n: int) -> dict[str, np.ndarray]:
  support = rng.integers(recipe.min_support, recipe.max_support + 1, n)
  # The first s of a random permutation: s distinct features.
  ids = np.argsort(rng.random((n, recipe.num_features)), axis=1)
  ids = ids[:, :recipe.max_support]
  active = np.arange(recipe.max_support) < support[:, None]  # [n, 10]
  magnitudes = rng.uniform(recipe.magnitude_low, recipe.magnitude_high,
                           (n, recipe.max_support))
  magnitudes = np.where(active, magnitudes, 0.0).astype(np.float32)
  vector = np.einsum("nj,njd->nd", magnitudes, directions[ids])
  return {"vector": vector.astype(np.float32),
          "support": support.astype(np.int32),
          "features": np.where(active, ids, -1).astype(np.int32),
          "magnitudes": magnitudes}


def dictionary(recipe: Recipe = RECIPE, seed: int = SEED) -> np.ndarray:
  """The [num_features, dim] unit ground-truth feature directions."""
  return _directions(np.random.default_rng(seed), recipe)


def generate(recipe: Recipe = RECIPE, seed: int = SEED
             ) -> dict[str, dict[str, np.ndarray]]:
  """{"train", "test"}: {"vector": [N, dim] float32, "support": [N] int32,
  "features": [N, max_support] int32, "magnitudes": [N, max_support]
  float32}."""
  rng = np.random.default_rng(seed)
  directions = _directions(rng, recipe)
  return {split: _examples(rng, recipe, directions, n)
          for split, n in (("train", recipe.num_train),
                           ("test", recipe.num_test))}


class Superposition(tfds.core.GeneratorBasedBuilder):
  """Sparse non-negative sums of 512 random unit directions in d = 64."""

  VERSION = tfds.core.Version("1.0.0")
  RELEASE_NOTES = {"1.0.0": "Initial release."}

  def _info(self) -> tfds.core.DatasetInfo:
    width = RECIPE.max_support
    return tfds.core.DatasetInfo(
        builder=self,
        description=__doc__,
        features=tfds.features.FeaturesDict({
            "vector": tfds.features.Tensor(shape=(RECIPE.dim,),
                                           dtype=np.float32),
            "support": tfds.features.Tensor(shape=(), dtype=np.int32),
            "features": tfds.features.Tensor(shape=(width,), dtype=np.int32),
            "magnitudes": tfds.features.Tensor(shape=(width,),
                                               dtype=np.float32),
        }),
        metadata=tfds.core.MetadataDict(),
    )

  def _split_generators(self, dl_manager):
    del dl_manager  # Generated from the recipe and the seed.
    self.info.metadata.update(recipe=json.dumps(dataclasses.asdict(RECIPE)),
                              seed=SEED)
    return {split: self._generate_examples(arrays)
            for split, arrays in generate().items()}

  def _generate_examples(self, arrays):
    for i in range(len(arrays["vector"])):
      yield i, {name: values[i] for name, values in arrays.items()}
