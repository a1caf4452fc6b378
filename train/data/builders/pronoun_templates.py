"""`pronoun_templates`: one-sentence stories where a name picks a pronoun,
the synthetic subject of Observable Propagation's gender case study.

Recipe (fixed; stored in the metadata with the seed): 64 "female" and 64
"male" synthetic names (distinct strings of two or three syllables, drawn
from `numpy.random.default_rng(SEED)`). Each name has its own P(she): the
female names take the values linspace(0.6, 0.97, 64) in a seeded random
order, each male name 1 minus a female's, so the pronoun is graded, as
with real names, not a fixed function of the class. A sentence is

    BOS [opener]{0,2} NAME VERB the OBJECT [at PLACE] CONNECTOR PRONOUN
    ENDING . EOS PAD...

with 0-2 openers, the "at PLACE" clause half the time, every slot uniform
over its word list, and PRONOUN "she" with the name's P(she), else "he":
`LENGTH` = 14 tokens, right-padded. Only the pronoun is a target
(`target_mask`, over the 13 next-token targets). Of the 64 (VERB, OBJECT)
pairs, 8 (seeded) appear only in the test split, so every test sentence is
a held-out prompt; names appear in both. 20,000 train and 2,000 test
sentences. Features: `tokens`, `target_mask`, `name_position` (index of the
name in `tokens`) and `female` (the name's class). Ids: the zoo's 4
reserved ids (`zoo.lm.special_tokens`), then `WORDS`, then the names.
`generate()` gives the same arrays without TFDS.
"""

import dataclasses
import json

import numpy as np
import tensorflow_datasets as tfds

from zoo.lm import special_tokens

SEED = 20231227
LENGTH = 14
OPENERS = ("today", "yesterday", "later", "then", "once", "again")
VERBS = ("saw", "found", "bought", "lost", "painted", "fixed", "sold", "took")
OBJECTS = ("car", "book", "lamp", "boat", "cake", "map", "coat", "key")
PLACES = ("home", "school", "work", "noon", "dawn", "night")
CONNECTORS = ("because", "so", "and", "but", "while", "until")
ENDINGS = ("was", "felt", "left", "smiled", "ran", "slept")
WORDS = (*OPENERS, *VERBS, "the", *OBJECTS, "at", *PLACES, *CONNECTORS,
         "she", "he", *ENDINGS, ".")
SYLLABLES = tuple(c + v for c in "bdfgklmnprstvz" for v in "aeiou")


@dataclasses.dataclass(frozen=True)
class Recipe:
  names_per_class: int = 64
  p_she_low: float = 0.6
  p_she_high: float = 0.97
  held_out_pairs: int = 8
  num_train: int = 20_000
  num_test: int = 2_000

  @property
  def name_0(self) -> int:
    return len(special_tokens.NAMES) + len(WORDS)

  @property
  def vocab_size(self) -> int:
    return self.name_0 + 2 * self.names_per_class


RECIPE = Recipe()


def word_id(word: str) -> int:
  return len(special_tokens.NAMES) + WORDS.index(word)


def lexicon(recipe: Recipe = RECIPE, seed: int = SEED):
  """(names [2 * per class] str, female [..] bool, p_she [..] float):
  female names first."""
  rng = np.random.default_rng(seed)
  names: list[str] = []
  while len(names) < 2 * recipe.names_per_class:
    name = "".join(rng.choice(SYLLABLES, rng.integers(2, 4))).capitalize()
    if name not in names:
      names.append(name)
  k = recipe.names_per_class
  p = rng.permutation(np.linspace(recipe.p_she_low, recipe.p_she_high, k))
  female = np.arange(2 * k) < k
  return names, female, np.concatenate([p, 1 - p])


def generate(recipe: Recipe = RECIPE, seed: int = SEED
             ) -> dict[str, dict[str, np.ndarray]]:
  """{"train", "test"}: {"tokens" [N, LENGTH] int32, "target_mask"
  [N, LENGTH - 1] bool, "name_position" [N] int32, "female" [N] bool}."""
  _, female, p_she = lexicon(recipe, seed)
  rng = np.random.default_rng((seed, 1))
  pairs = len(VERBS) * len(OBJECTS)
  test_pair = np.zeros(pairs, bool)
  test_pair[rng.choice(pairs, recipe.held_out_pairs, replace=False)] = True
  pick = lambda words: word_id(words[rng.integers(len(words))])
  out = {}
  for split, count in (("train", recipe.num_train),
                       ("test", recipe.num_test)):
    allowed = np.flatnonzero(test_pair == (split == "test"))
    tokens = np.full((count, LENGTH), special_tokens.PAD, np.int32)
    mask = np.zeros((count, LENGTH - 1), bool)
    name_position = np.zeros(count, np.int32)
    name_female = np.zeros(count, bool)
    for i in range(count):
      name = rng.integers(len(female))
      verb, obj = divmod(allowed[rng.integers(len(allowed))], len(OBJECTS))
      row = [special_tokens.BOS]
      row += [pick(OPENERS) for _ in range(rng.integers(3))]
      name_position[i], name_female[i] = len(row), female[name]
      row += [recipe.name_0 + name, word_id(VERBS[verb]), word_id("the"),
              word_id(OBJECTS[obj])]
      if rng.random() < 0.5:
        row += [word_id("at"), pick(PLACES)]
      row.append(pick(CONNECTORS))
      mask[i, len(row) - 1] = True  # target t is token t + 1
      row.append(word_id("she" if rng.random() < p_she[name] else "he"))
      row += [pick(ENDINGS), word_id("."), special_tokens.EOS]
      tokens[i, :len(row)] = row
    out[split] = {"tokens": tokens, "target_mask": mask,
                  "name_position": name_position, "female": name_female}
  return out


class PronounTemplates(tfds.core.GeneratorBasedBuilder):
  """Template sentences: a synthetic name, then "she" or "he"."""

  VERSION = tfds.core.Version("1.0.0")
  RELEASE_NOTES = {"1.0.0": "Initial release."}

  def _info(self) -> tfds.core.DatasetInfo:
    return tfds.core.DatasetInfo(
        builder=self,
        description=__doc__,
        features=tfds.features.FeaturesDict({
            "tokens": tfds.features.Tensor(shape=(LENGTH,), dtype=np.int32),
            "target_mask": tfds.features.Tensor(shape=(LENGTH - 1,),
                                                dtype=np.bool_),
            "name_position": tfds.features.Scalar(dtype=np.int32),
            "female": tfds.features.Scalar(dtype=np.bool_),
        }),
        metadata=tfds.core.MetadataDict(),
    )

  def _split_generators(self, dl_manager):
    del dl_manager  # Generated from the recipe and the seed.
    names, _, p_she = lexicon()
    self.info.metadata.update(recipe=json.dumps(dataclasses.asdict(RECIPE)),
                              seed=SEED, names=json.dumps(names),
                              p_she=json.dumps(p_she.round(4).tolist()))
    return {split: self._generate_examples(arrays)
            for split, arrays in generate().items()}

  def _generate_examples(self, arrays):
    for i in range(len(arrays["tokens"])):
      yield i, {key: value[i] for key, value in arrays.items()}
