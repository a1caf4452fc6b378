"""`kv_analogies`: "k1 : v1 = k2 : v2" over a fixed key-to-value map, the
Hyperdimensional Probe's toy corpus (`zoo.interp.hd_probe`).

Recipe (fixed; stored in the metadata with the seed): 50 key words are
mapped one-to-one to 50 value words by a permutation drawn from
`numpy.random.default_rng(SEED)`. Every ordered pair of distinct keys
(k1, k2), 50 x 49 = 2,450 of them, gives one analogy, BOS k1 ":" v1 "="
k2 ":" v2 EOS (9 tokens), whose answer is v2 (token 7, predicted from the
prompt's first 7). The same generator then holds out a random 20% of the
pairs (490) as the test split; the other 1,960 are the train split, in
shuffled order. Every key is a query (k2) of train analogies, so a test
analogy is a new combination of known facts. Ids: the zoo's 4 reserved ids
(`zoo.lm.special_tokens`), the 50 keys, the 50 values, ":" and "=" (106).

Features: "tokens" int32 [9]; "concepts" int32 [4], the concept ids of
(k1, v1, k2, v2): a key's is its index, a value's 50 + its index.
`generate()` gives the same arrays without TFDS.
"""

import dataclasses
import json

import numpy as np
import tensorflow_datasets as tfds

from zoo.lm import special_tokens

SEED = 20250929
KEY_0 = len(special_tokens.NAMES)
PROMPT_LENGTH = 7  # BOS k1 : v1 = k2 :


@dataclasses.dataclass(frozen=True)
class Recipe:
  num_keys: int = 50
  held_out: float = 0.2

  @property
  def value_0(self) -> int:
    return KEY_0 + self.num_keys

  @property
  def colon(self) -> int:
    return self.value_0 + self.num_keys

  @property
  def equals(self) -> int:
    return self.colon + 1

  @property
  def vocab_size(self) -> int:
    return self.equals + 1

  @property
  def num_concepts(self) -> int:
    return 2 * self.num_keys


RECIPE = Recipe()


def generate(recipe: Recipe = RECIPE, seed: int = SEED
             ) -> dict[str, dict[str, np.ndarray]]:
  """{"train", "test"}: {"tokens": [N, 9], "concepts": [N, 4]} int32."""
  rng = np.random.default_rng(seed)
  value = rng.permutation(recipe.num_keys)
  k1, k2 = np.nonzero(~np.eye(recipe.num_keys, dtype=bool))
  order = rng.permutation(len(k1))
  test_size = int(round(recipe.held_out * len(k1)))
  splits = {"test": np.sort(order[:test_size]), "train": order[test_size:]}
  out = {}
  for name, rows in splits.items():
    a, b = k1[rows], k2[rows]
    concepts = np.stack([a, recipe.num_keys + value[a], b,
                         recipe.num_keys + value[b]], axis=1)
    tokens = np.stack([
        np.full_like(a, special_tokens.BOS), KEY_0 + a,
        np.full_like(a, recipe.colon), recipe.value_0 + value[a],
        np.full_like(a, recipe.equals), KEY_0 + b,
        np.full_like(a, recipe.colon), recipe.value_0 + value[b],
        np.full_like(a, special_tokens.EOS)], axis=1)
    out[name] = {"tokens": tokens.astype(np.int32),
                 "concepts": concepts.astype(np.int32)}
  return out


class KvAnalogies(tfds.core.GeneratorBasedBuilder):
  """Analogies k1 : v1 = k2 : v2 over a fixed one-to-one key-value map."""

  VERSION = tfds.core.Version("1.0.0")
  RELEASE_NOTES = {"1.0.0": "Initial release."}

  def _info(self) -> tfds.core.DatasetInfo:
    return tfds.core.DatasetInfo(
        builder=self,
        description=__doc__,
        features=tfds.features.FeaturesDict({
            "tokens": tfds.features.Tensor(shape=(PROMPT_LENGTH + 2,),
                                           dtype=np.int32),
            "concepts": tfds.features.Tensor(shape=(4,), dtype=np.int32),
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
    for i, (tokens, concepts) in enumerate(zip(arrays["tokens"],
                                               arrays["concepts"],
                                               strict=True)):
      yield i, {"tokens": tokens, "concepts": concepts}
