"""`bad_token_lm`: a word-level Markov language in which 20 reserved BAD
ids follow trigger words, the synthetic subject of SAE detoxification
(`zoo.interp.sae_detox`).

Recipe (fixed; stored in the metadata with the seed): 64 neutral words, 10
trigger words and 20 BAD words, all synthetic strings (no real words).
The neutral words form a Markov chain: each has 4 distinct successors
(drawn from `numpy.random.default_rng(SEED)`) taken with probabilities
0.4, 0.3, 0.2, 0.1 in a seeded order. A sequence is BOS and 32 words:

  - the first word is a uniform neutral word;
  - after a neutral word, with p = 0.06 a uniform trigger word comes next,
    else the chain's successor of the last neutral word;
  - after a trigger, with p = 0.7 a uniform BAD word comes next, else the
    successor of the last neutral word;
  - after a BAD word, the successor of the last neutral word.

So a BAD word follows a trigger with p = 0.7 and never appears elsewhere,
and the chain skips over triggers and BAD words (the LM must look back
past them, through attention). Splits: 20,000 train and 4,000 test
sequences, and 1,000 "clean" ones drawn with p(trigger) = 0 (no trigger,
no BAD word: the clean text of the fluency check). `trigger_prompts`
cuts held-out prompts from the test split. Feature: `tokens` int32 [33].
Ids: the zoo's 4 reserved ids (`zoo.lm.special_tokens`), then the neutral,
trigger and BAD words. `generate()` gives the same arrays without TFDS.
"""

import dataclasses
import json

import numpy as np
import tensorflow_datasets as tfds

from zoo.lm import special_tokens

SEED = 20250520
LENGTH = 33  # BOS and 32 words
SUCCESSOR_P = (0.4, 0.3, 0.2, 0.1)
SYLLABLES = tuple(c + v for c in "bdfgklmnprstvz" for v in "aeiou")


@dataclasses.dataclass(frozen=True)
class Recipe:
  num_neutral: int = 64
  num_triggers: int = 10
  num_bad: int = 20
  p_trigger: float = 0.06
  p_bad: float = 0.7
  num_train: int = 20_000
  num_test: int = 4_000
  num_clean: int = 1_000

  @property
  def trigger_0(self) -> int:
    return len(special_tokens.NAMES) + self.num_neutral

  @property
  def bad_0(self) -> int:
    return self.trigger_0 + self.num_triggers

  @property
  def vocab_size(self) -> int:
    return self.bad_0 + self.num_bad

  @property
  def trigger_ids(self) -> np.ndarray:
    return np.arange(self.trigger_0, self.bad_0)

  @property
  def bad_ids(self) -> np.ndarray:
    return np.arange(self.bad_0, self.vocab_size)


RECIPE = Recipe()


def words(recipe: Recipe = RECIPE, seed: int = SEED) -> list[str]:
  """Every id's string: the reserved names, then distinct pseudo-words for
  the neutral and trigger words, then "<bad_00>", ...."""
  rng = np.random.default_rng((seed, 0))
  made: list[str] = []
  while len(made) < recipe.num_neutral + recipe.num_triggers:
    word = "".join(rng.choice(SYLLABLES, rng.integers(1, 4)))
    if word not in made:
      made.append(word)
  bad = [f"<bad_{i:02d}>" for i in range(recipe.num_bad)]
  return [*special_tokens.NAMES, *made, *bad]


def chain(recipe: Recipe = RECIPE, seed: int = SEED):
  """(successors [N, 4] neutral indices, probabilities [N, 4]) of the
  neutral words' Markov chain; each row's successors are distinct."""
  rng = np.random.default_rng((seed, 1))
  n = recipe.num_neutral
  successors = np.stack([rng.choice(n, len(SUCCESSOR_P), replace=False)
                         for _ in range(n)])
  probs = np.stack([rng.permutation(SUCCESSOR_P) for _ in range(n)])
  return successors, probs


def _sequences(count: int, p_trigger: float, recipe: Recipe, rng,
               successors, probs) -> np.ndarray:
  neutral_0 = len(special_tokens.NAMES)
  tokens = np.empty((count, LENGTH), np.int32)
  tokens[:, 0] = special_tokens.BOS
  cumulative = np.cumsum(probs, axis=1)
  for row in range(count):
    draws = rng.random((LENGTH, 3))  # kind, which word, chain step
    last = int(draws[0, 1] * recipe.num_neutral)
    tokens[row, 1] = neutral_0 + last
    for t in range(2, LENGTH):
      kind, pick, step = draws[t]
      previous = tokens[row, t - 1]
      after_neutral = previous < recipe.trigger_0
      if after_neutral and kind < p_trigger:
        tokens[row, t] = recipe.trigger_0 + int(pick * recipe.num_triggers)
      elif previous in range(recipe.trigger_0, recipe.bad_0) and (
          kind < recipe.p_bad):
        tokens[row, t] = recipe.bad_0 + int(pick * recipe.num_bad)
      else:
        edge = min(int(np.searchsorted(cumulative[last], step, "right")),
                   len(SUCCESSOR_P) - 1)
        last = int(successors[last, edge])
        tokens[row, t] = neutral_0 + last
  return tokens


def generate(recipe: Recipe = RECIPE, seed: int = SEED
             ) -> dict[str, dict[str, np.ndarray]]:
  """{"train", "test", "clean"}: {"tokens": [N, LENGTH] int32}."""
  successors, probs = chain(recipe, seed)
  out = {}
  for i, (split, count, p_trigger) in enumerate((
      ("train", recipe.num_train, recipe.p_trigger),
      ("test", recipe.num_test, recipe.p_trigger),
      ("clean", recipe.num_clean, 0.0))):
    rng = np.random.default_rng((seed, 2, i))
    out[split] = {"tokens": _sequences(count, p_trigger, recipe, rng,
                                       successors, probs)}
  return out


def trigger_prompts(tokens, count: int, max_length: int = 17,
                    recipe: Recipe = RECIPE):
  """Prompts that end at a trigger word: each row of `tokens` [N, LENGTH]
  cut after its first trigger if that lies within `max_length` tokens;
  the first `count` such rows, left-padded.

  Returns:
    (prompts [count, max_length] int32, PAD on the left; lengths [count]).

  Raises:
    ValueError: fewer than `count` rows have such a trigger.
  """
  is_trigger = np.isin(tokens[:, :max_length], recipe.trigger_ids)
  rows = np.flatnonzero(is_trigger.any(1))[:count]
  if len(rows) < count:
    raise ValueError(f"trigger_prompts: only {len(rows)} rows have a "
                     f"trigger within {max_length} tokens, {count} asked")
  lengths = is_trigger[rows].argmax(1) + 1
  prompts = np.full((count, max_length), special_tokens.PAD, np.int32)
  for i, (row, n) in enumerate(zip(rows, lengths)):
    prompts[i, max_length - n:] = tokens[row, :n]
  return prompts, lengths.astype(np.int32)


class BadTokenLm(tfds.core.GeneratorBasedBuilder):
  """A Markov word language where BAD words follow trigger words."""

  VERSION = tfds.core.Version("1.0.0")
  RELEASE_NOTES = {"1.0.0": "Initial release."}

  def _info(self) -> tfds.core.DatasetInfo:
    return tfds.core.DatasetInfo(
        builder=self,
        description=__doc__,
        features=tfds.features.FeaturesDict({
            "tokens": tfds.features.Tensor(shape=(LENGTH,), dtype=np.int32),
        }),
        metadata=tfds.core.MetadataDict(),
    )

  def _split_generators(self, dl_manager):
    del dl_manager  # Generated from the recipe and the seed.
    successors, probs = chain()
    self.info.metadata.update(recipe=json.dumps(dataclasses.asdict(RECIPE)),
                              seed=SEED, words=json.dumps(words()),
                              successors=json.dumps(successors.tolist()),
                              successor_p=json.dumps(probs.tolist()))
    return {split: self._generate_examples(arrays)
            for split, arrays in generate().items()}

  def _generate_examples(self, arrays):
    for i, tokens in enumerate(arrays["tokens"]):
      yield i, {"tokens": tokens}
