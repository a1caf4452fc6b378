"""`digit_frequency`: a source of digits -> its 5 most frequent digits, the
sequence-to-sequence toy of the encoder-decoder SLM check (Mu).

Recipe (fixed; stored in the metadata with the seed): an example draws
digit probabilities p ~ Dirichlet(0.3, ..., 0.3) over the 10 digits, then
64 digits iid from p (the source). The target is the 5 digits of highest
count, most frequent first. Examples whose 6 highest counts are not all
distinct are rejected, so the order and the cut are unambiguous. Ids: the
zoo's 4 reserved ids (`zoo.lm.special_tokens`), then digits 0..9 (14).
Features: "source" [64]; "target" [6], BOS then the 5 digits (the decoder
reads target[:-1] and predicts target[1:]); and the decoder-only view
"tokens" [70] = [source; target] with "target_mask" [69] over next-token
targets, true where a target digit is predicted. 20,000 train and 1,000
test examples, all from `numpy.random.default_rng(SEED)`; `generate()`
gives the same arrays without TFDS.
"""

import dataclasses
import json

import numpy as np
import tensorflow_datasets as tfds

from zoo.lm import special_tokens

SEED = 20250605
DIGIT_0 = len(special_tokens.NAMES)


@dataclasses.dataclass(frozen=True)
class Recipe:
  source_len: int = 64
  num_top: int = 5
  num_digits: int = 10
  alpha: float = 0.3
  num_train: int = 20_000
  num_test: int = 1_000

  @property
  def vocab_size(self) -> int:
    return DIGIT_0 + self.num_digits

  @property
  def target_len(self) -> int:
    """BOS and the top digits."""
    return 1 + self.num_top


RECIPE = Recipe()


def target_mask(recipe: Recipe = RECIPE) -> np.ndarray:
  """[source_len + target_len - 1] bool over the decoder-only view's
  next-token targets: true where a target digit is predicted."""
  mask = np.zeros(recipe.source_len + recipe.target_len - 1, bool)
  mask[recipe.source_len:] = True  # from BOS (index source_len) on
  return mask


def _draw(rng, recipe: Recipe, n: int):
  """n candidates: ([n, source_len] digits, [n, num_top + 1] top digits by
  count, [n] bool kept)."""
  p = rng.dirichlet(np.full(recipe.num_digits, recipe.alpha), n)
  u = rng.random((n, recipe.source_len, 1))
  digits = np.minimum((u > np.cumsum(p, 1)[:, None, :]).sum(-1),
                      recipe.num_digits - 1)
  counts = np.stack([np.sum(digits == d, 1)
                     for d in range(recipe.num_digits)], 1)
  top = np.argsort(-counts, axis=1, kind="stable")[:, :recipe.num_top + 1]
  top_counts = np.take_along_axis(counts, top, 1)
  kept = np.all(np.diff(top_counts, axis=1) < 0, axis=1)
  return digits, top, kept


def generate(recipe: Recipe = RECIPE, seed: int = SEED
             ) -> dict[str, dict[str, np.ndarray]]:
  """{"train", "test"}: {"source" [N, 64], "target" [N, 6]} int32."""
  rng = np.random.default_rng(seed)
  need = recipe.num_train + recipe.num_test
  sources, tops = [], []
  while sum(len(s) for s in sources) < need:
    digits, top, kept = _draw(rng, recipe, need)
    sources.append(digits[kept])
    tops.append(top[kept, :recipe.num_top])
  source = np.concatenate(sources)[:need] + DIGIT_0
  target = np.concatenate([
      np.full((need, 1), special_tokens.BOS),
      np.concatenate(tops)[:need] + DIGIT_0], 1)
  split = lambda lo, hi: {"source": source[lo:hi].astype(np.int32),
                          "target": target[lo:hi].astype(np.int32)}
  return {"train": split(0, recipe.num_train),
          "test": split(recipe.num_train, need)}


def decoder_only(pairs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
  """{"source", "target"} -> the decoder-only view {"tokens" [N, 70],
  "target_mask" [N, 69]}."""
  tokens = np.concatenate([pairs["source"], pairs["target"]], 1)
  return {"tokens": tokens,
          "target_mask": np.broadcast_to(target_mask(), (len(tokens),
                                                         tokens.shape[1] - 1))}


class DigitFrequency(tfds.core.GeneratorBasedBuilder):
  """64 digits -> their 5 most frequent, most frequent first."""

  VERSION = tfds.core.Version("1.0.0")
  RELEASE_NOTES = {"1.0.0": "Initial release."}

  def _info(self) -> tfds.core.DatasetInfo:
    r = RECIPE
    tensor = lambda n, dtype: tfds.features.Tensor(shape=(n,), dtype=dtype)
    return tfds.core.DatasetInfo(
        builder=self,
        description=__doc__,
        features=tfds.features.FeaturesDict({
            "source": tensor(r.source_len, np.int32),
            "target": tensor(r.target_len, np.int32),
            "tokens": tensor(r.source_len + r.target_len, np.int32),
            "target_mask": tensor(r.source_len + r.target_len - 1, np.bool_),
        }),
        metadata=tfds.core.MetadataDict(),
    )

  def _split_generators(self, dl_manager):
    del dl_manager  # Generated from the recipe and the seed.
    self.info.metadata.update(recipe=json.dumps(dataclasses.asdict(RECIPE)),
                              seed=SEED)
    return {split: self._generate_examples(pairs)
            for split, pairs in generate().items()}

  def _generate_examples(self, pairs):
    view = decoder_only(pairs)
    for i in range(len(pairs["source"])):
      yield i, {"source": pairs["source"][i], "target": pairs["target"][i],
                "tokens": view["tokens"][i],
                "target_mask": view["target_mask"][i]}
