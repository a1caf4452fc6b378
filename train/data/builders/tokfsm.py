"""`tokfsm`: token sequences walked on a random finite state machine.

The recipe (fixed; `RECIPE` is stored in the dataset's metadata with the
seed and the machine's edges), after Codebook Features' TokFSM scaled down:

* 20 states; each has 4 distinct successors drawn uniformly without
  replacement (a state may be its own successor), each taken with
  probability 1/4.
* A walk starts at a uniform random state and takes 31 steps: 32 states.
* A state is written as 2 decimal digits ("07"); digit d is token
  `DIGIT_0 + d`, after the zoo's reserved ids (`zoo.lm.special_tokens`), so
  the vocabulary has 14 ids. A sequence is BOS and the 64 digits: 65 tokens,
  a model reads 64 of them (`train.tasks.lm_next_token`).
* 50,000 train and 2,000 test walks, iid.

Everything comes from `numpy.random.default_rng(SEED)`: first the
machine, then the walks; `generate()` gives the same arrays without TFDS.
"""

import dataclasses
import json

import numpy as np
import tensorflow_datasets as tfds

from zoo.lm import special_tokens

SEED = 42
DIGIT_0 = len(special_tokens.NAMES)  # token of the digit 0
BASE = 10


@dataclasses.dataclass(frozen=True)
class Recipe:
  num_states: int = 20
  num_edges: int = 4
  digits: int = 2  # tokens per state
  states_per_walk: int = 32
  num_train: int = 50_000
  num_test: int = 2_000

  @property
  def vocab_size(self) -> int:
    return DIGIT_0 + BASE

  @property
  def length(self) -> int:
    """Tokens per sequence, BOS included."""
    return 1 + self.digits * self.states_per_walk


RECIPE = Recipe()


@dataclasses.dataclass(frozen=True)
class TokFSM:
  """successors [S, E] int (sorted rows); walks [N, states_per_walk] per
  split (`encode` gives their tokens)."""

  successors: np.ndarray
  train_walks: np.ndarray
  test_walks: np.ndarray
  recipe: Recipe = RECIPE

  @property
  def transitions(self) -> np.ndarray:
    """[S, S] bool: s -> t is an edge."""
    s = self.recipe.num_states
    out = np.zeros((s, s), bool)
    out[np.arange(s)[:, None], self.successors] = True
    return out


def encode(walks: np.ndarray, recipe: Recipe = RECIPE) -> np.ndarray:
  """[..., L] states -> [..., 1 + digits * L] int32 tokens, BOS first."""
  walks = np.asarray(walks)
  powers = BASE ** np.arange(recipe.digits - 1, -1, -1)
  digits = walks[..., None] // powers % BASE  # most significant first
  digits = digits.reshape(*walks.shape[:-1], -1) + DIGIT_0
  bos = np.full((*walks.shape[:-1], 1), special_tokens.BOS)
  return np.concatenate([bos, digits], axis=-1).astype(np.int32)


def decode(tokens: np.ndarray, recipe: Recipe = RECIPE) -> np.ndarray:
  """[..., digits * L] digit tokens (no BOS) -> [..., L] states; -1 where a
  state's tokens are not all digits."""
  tokens = np.asarray(tokens)
  digits = tokens.reshape(*tokens.shape[:-1], -1, recipe.digits) - DIGIT_0
  valid = ((digits >= 0) & (digits < BASE)).all(-1)
  powers = BASE ** np.arange(recipe.digits - 1, -1, -1)
  return np.where(valid, (digits * powers).sum(-1), -1)


def walk(successors: np.ndarray, start: np.ndarray, steps: int,
         rng: np.random.Generator) -> np.ndarray:
  """[N] start states -> [N, steps + 1] uniform random walks."""
  states = [np.asarray(start)]
  for _ in range(steps):
    pick = rng.integers(0, successors.shape[1], size=len(start))
    states.append(successors[states[-1], pick])
  return np.stack(states, axis=1)


def generate(recipe: Recipe = RECIPE, seed: int = SEED) -> TokFSM:
  """The machine and the walks of `recipe` and `seed` (under a second)."""
  rng = np.random.default_rng(seed)
  successors = np.stack([
      np.sort(rng.choice(recipe.num_states, recipe.num_edges, replace=False))
      for _ in range(recipe.num_states)])
  n = recipe.num_train + recipe.num_test
  walks = walk(successors, rng.integers(0, recipe.num_states, size=n),
               recipe.states_per_walk - 1, rng)
  return TokFSM(successors, walks[:recipe.num_train],
                walks[recipe.num_train:], recipe)


class Tokfsm(tfds.core.GeneratorBasedBuilder):
  """Walks on a random 20-state machine, 2 digit tokens per state."""

  VERSION = tfds.core.Version("1.0.0")
  RELEASE_NOTES = {"1.0.0": "Initial release."}

  def _info(self) -> tfds.core.DatasetInfo:
    return tfds.core.DatasetInfo(
        builder=self,
        description=__doc__,
        features=tfds.features.FeaturesDict({
            "tokens": tfds.features.Tensor(shape=(RECIPE.length,),
                                           dtype=np.int32),
            "states": tfds.features.Tensor(
                shape=(RECIPE.states_per_walk,), dtype=np.int32),
        }),
        metadata=tfds.core.MetadataDict(),
    )

  def _split_generators(self, dl_manager):
    del dl_manager  # Generated from the recipe and the seed.
    fsm = generate()
    self.info.metadata.update(
        recipe=json.dumps(dataclasses.asdict(RECIPE)), seed=SEED,
        successors=json.dumps(fsm.successors.tolist()))
    return {"train": self._generate_examples(fsm, fsm.train_walks),
            "test": self._generate_examples(fsm, fsm.test_walks)}

  def _generate_examples(self, fsm, walks):
    tokens = encode(walks, fsm.recipe)
    for i in range(len(walks)):
      yield i, {"tokens": tokens[i], "states": walks[i].astype(np.int32)}
