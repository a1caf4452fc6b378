"""`mqar`: multi-query associative recall (Arora et al., "Zoology", 2023),
at the size SambaY's toy check trains on.

Recipe (fixed; stored in the metadata with the seed): an example draws 16
distinct keys uniformly from 64 key ids and, for each, a value uniformly
from 64 value ids (values may repeat). It writes the 16 pairs "k v" in
draw order, then the same 16 keys in a fresh uniform shuffle, each again
followed by its value: BOS and 64 tokens. A model reads the first 64 and
is scored only where it must recall: the 16 values of the second half
(`target_mask`, over the 64 next-token targets). Ids: the zoo's 4 reserved
ids (`zoo.lm.special_tokens`), then the 64 keys, then the 64 values (132).
20,000 train and 1,000 test examples, iid, all from
`numpy.random.default_rng(SEED)`; `generate()` gives the same arrays
without TFDS.
"""

import dataclasses
import json

import numpy as np
import tensorflow_datasets as tfds

from zoo.lm import special_tokens

SEED = 20231208
KEY_0 = len(special_tokens.NAMES)


@dataclasses.dataclass(frozen=True)
class Recipe:
  num_pairs: int = 16
  num_keys: int = 64
  num_values: int = 64
  num_train: int = 20_000
  num_test: int = 1_000

  @property
  def value_0(self) -> int:
    return KEY_0 + self.num_keys

  @property
  def vocab_size(self) -> int:
    return self.value_0 + self.num_values

  @property
  def length(self) -> int:
    """Tokens per example, BOS included."""
    return 1 + 4 * self.num_pairs


RECIPE = Recipe()


def target_mask(recipe: Recipe = RECIPE) -> np.ndarray:
  """[length - 1] bool over next-token targets: the recalled values."""
  mask = np.zeros(recipe.length - 1, bool)
  # Token 2p + 1 + 2i (i-th query's value, counted from 0) is target 2p + 2i.
  mask[2 * recipe.num_pairs + 1::2] = True
  return mask


def generate(recipe: Recipe = RECIPE, seed: int = SEED
             ) -> dict[str, np.ndarray]:
  """{"train", "test"}: [N, length] int32 tokens."""
  rng = np.random.default_rng(seed)
  n, p = recipe.num_train + recipe.num_test, recipe.num_pairs
  keys = np.argsort(rng.random((n, recipe.num_keys)), axis=1)[:, :p]
  values = rng.integers(0, recipe.num_values, (n, p))
  order = np.argsort(rng.random((n, p)), axis=1)
  def pairs(k, v):
    return np.stack([KEY_0 + k, recipe.value_0 + v], axis=2).reshape(n, -1)
  tokens = np.concatenate([
      np.full((n, 1), special_tokens.BOS), pairs(keys, values),
      pairs(np.take_along_axis(keys, order, 1),
            np.take_along_axis(values, order, 1))], axis=1).astype(np.int32)
  return {"train": tokens[:recipe.num_train],
          "test": tokens[recipe.num_train:]}


class Mqar(tfds.core.GeneratorBasedBuilder):
  """16 key-value pairs, then the keys again: recall each value."""

  VERSION = tfds.core.Version("1.0.0")
  RELEASE_NOTES = {"1.0.0": "Initial release."}

  def _info(self) -> tfds.core.DatasetInfo:
    return tfds.core.DatasetInfo(
        builder=self,
        description=__doc__,
        features=tfds.features.FeaturesDict({
            "tokens": tfds.features.Tensor(shape=(RECIPE.length,),
                                           dtype=np.int32),
            "target_mask": tfds.features.Tensor(shape=(RECIPE.length - 1,),
                                                dtype=np.bool_),
        }),
        metadata=tfds.core.MetadataDict(),
    )

  def _split_generators(self, dl_manager):
    del dl_manager  # Generated from the recipe and the seed.
    self.info.metadata.update(recipe=json.dumps(dataclasses.asdict(RECIPE)),
                              seed=SEED)
    return {split: self._generate_examples(tokens)
            for split, tokens in generate().items()}

  def _generate_examples(self, tokens):
    mask = target_mask()
    for i, row in enumerate(tokens):
      yield i, {"tokens": row, "target_mask": mask}
