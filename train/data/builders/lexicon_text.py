"""`lexicon_text`: a synthetic language of multi-token words, known entropy.

Why it exists: the decoding claims that rest on a target being sure of runs
of tokens (LUD's lexical units, PEARL's and speculative decoding's draft
acceptance, diverse beam's search over a peaked distribution) fail on the
stdlib text target (2.2M parameters, 3.63 nats/token held out, at least 90%
sure of about 4% of its greedy tokens). Natural text needs far larger models
to reach that regime. This language puts a toy-sized model in it: most
tokens are determined (the rest of a word once its first letters are
written), the others carry a small, known amount of choice (which word
comes next), so a model that learns the source is confident on multi-token
units and the entropy it cannot beat is known.

The recipe (fixed; stored in the dataset's metadata with the seed):

* A lexicon of 256 distinct pseudo-words of 2 to 8 lowercase letters
  (length uniform), letters alternating consonant and vowel from a random
  first kind, so words read as words. Word r (0-based) has Zipfian
  popularity proportional to 1 / (r + 1).
* A sparse, peaked bigram grammar: each word has 4 successors, other
  words drawn without replacement in proportion to their popularity, taken
  with probabilities (0.6, 0.2, 0.12, 0.08) in the order drawn (1.09 nats
  per word). A document's first word is drawn by popularity.
* Rendering: words joined by single spaces. Tokens are characters (a
  `tokenizers` BPE with no merges: the 4 ids of `zoo.lm.special_tokens`,
  the space, then "a" to "z"; 31 ids), so a word of n letters spans n + 1
  tokens with its space; the character-level choice also makes the source's
  probability of every token exact (`source_log_probs`).
* Each record is one document: `<bos>` and its first 256 characters,
  {"tokens": int32 [257]} as `stdlib_bpe`'s windows; every window starts at
  a document start, so a model sees all the context the source uses.
  16,000 train and 256 validation documents, iid.

The floor: `entropy_rate` (nats per token of the stationary chain, about
0.19) and, exactly comparable to a model's held-out loss, the source's own
mean NLL of the validation targets (`validation_source_nll` in the
metadata), beside the fraction of those targets the source gives at least
0.9 (`source_confident_fraction`: the tokens a perfect model is LUD-sure
of). Everything comes from `numpy.random.default_rng(SEED)`; `generate()`
gives the same arrays without TFDS.
"""

import dataclasses
import json

import numpy as np
import tensorflow_datasets as tfds
import tokenizers
from tokenizers import decoders, models

from zoo.lm import special_tokens

SEED = 0
ALPHABET = " abcdefghijklmnopqrstuvwxyz"  # the space first
VOWELS = "aeiou"
CONSONANTS = "".join(c for c in ALPHABET[1:] if c not in VOWELS)
CONFIDENT = 0.9  # LUD's alpha: a token the source gives this is "sure"


@dataclasses.dataclass(frozen=True)
class Recipe:
  num_words: int = 256
  min_letters: int = 2
  max_letters: int = 8
  successor_probs: tuple[float, ...] = (0.6, 0.2, 0.12, 0.08)
  window: int = 256  # characters per document, after <bos>
  num_train: int = 16_000
  num_validation: int = 256

  @property
  def vocab_size(self) -> int:
    return len(special_tokens.NAMES) + len(ALPHABET)


RECIPE = Recipe()


@dataclasses.dataclass(frozen=True)
class Language:
  """words [V] str; popularity [V] (sums to 1); successors [V, K] int
  word ids, taken with recipe.successor_probs."""

  words: tuple[str, ...]
  popularity: np.ndarray
  successors: np.ndarray
  recipe: Recipe = RECIPE

  def transitions(self) -> np.ndarray:
    """[V, V] word bigram probabilities."""
    v = len(self.words)
    out = np.zeros((v, v))
    out[np.arange(v)[:, None], self.successors] = self.recipe.successor_probs
    return out

  def entropy_rate(self) -> float:
    """Nats per token of the stationary chain: word entropy over the
    expected tokens per word (letters and the space)."""
    p = self.transitions()
    values, vectors = np.linalg.eig(p.T)
    stationary = np.real(vectors[:, np.argmax(np.real(values))])
    stationary /= stationary.sum()
    probs = np.asarray(self.recipe.successor_probs)
    per_word = -np.sum(probs * np.log(probs))
    lengths = np.array([len(w) + 1 for w in self.words])
    return float(per_word / (stationary @ lengths))


def make_language(rng: np.random.Generator, recipe: Recipe = RECIPE
                  ) -> Language:
  words: list[str] = []
  while len(words) < recipe.num_words:
    n = int(rng.integers(recipe.min_letters, recipe.max_letters + 1))
    kinds = (VOWELS, CONSONANTS)[::int(rng.choice([-1, 1]))]
    word = "".join(rng.choice(list(kinds[i % 2])) for i in range(n))
    if word not in words:
      words.append(word)
  popularity = 1 / np.arange(1, recipe.num_words + 1)
  popularity /= popularity.sum()
  k = len(recipe.successor_probs)
  successors = []
  for w in range(recipe.num_words):
    weights = popularity.copy()
    weights[w] = 0  # no word follows itself
    successors.append(rng.choice(recipe.num_words, k, replace=False,
                                 p=weights / weights.sum()))
  return Language(tuple(words), popularity, np.stack(successors), recipe)


def walks(language: Language, num: int, rng: np.random.Generator
          ) -> np.ndarray:
  """[num, W] word ids: enough words to fill a document's window."""
  recipe = language.recipe
  length = recipe.window // (recipe.min_letters + 1) + 1
  out = [rng.choice(recipe.num_words, num, p=language.popularity)]
  for _ in range(length - 1):
    pick = rng.choice(len(recipe.successor_probs), num,
                      p=recipe.successor_probs)
    out.append(language.successors[out[-1], pick])
  return np.stack(out, axis=1)


def render(language: Language, walk: np.ndarray) -> str:
  """A document's text: its words joined by spaces, cut to the window."""
  return " ".join(language.words[w] for w in walk)[:language.recipe.window]


def tokenizer() -> tokenizers.Tokenizer:
  """The character tokenizer: special tokens, then ALPHABET."""
  names = [*special_tokens.NAMES, *ALPHABET]
  tok = tokenizers.Tokenizer(models.BPE(
      vocab={name: i for i, name in enumerate(names)}, merges=[]))
  tok.decoder = decoders.Fuse()
  tok.add_special_tokens(list(special_tokens.NAMES))
  return tok


def encode(texts: list[str]) -> np.ndarray:
  """[N, 1 + window] int32: <bos> and the characters' ids (what
  `tokenizer()` gives, by table)."""
  table = {c: len(special_tokens.NAMES) + i for i, c in enumerate(ALPHABET)}
  return np.asarray([[special_tokens.BOS, *(table[c] for c in text)]
                     for text in texts], np.int32)


def source_log_probs(language: Language, walk: np.ndarray) -> np.ndarray:
  """[window] the source's log-probability of each character of a
  document (the targets after <bos>), given everything before it."""
  text = render(language, walk)
  probs = np.asarray(language.recipe.successor_probs)
  out, previous, start = [], None, 0
  for w in walk:
    if start >= len(text):
      break
    if previous is None:
      options = language.words
      weights = language.popularity
    else:
      options = [language.words[s] for s in language.successors[previous]]
      weights = probs
    spelled = [o + " " for o in options]
    target = language.words[w] + " "
    for i in range(min(len(target), len(text) - start)):
      agree = [t.startswith(target[:i]) for t in spelled]
      hit = [t.startswith(target[:i + 1]) for t in spelled]
      out.append(np.log(np.sum(weights[hit]) / np.sum(weights[agree])))
    previous, start = w, start + len(target)
  return np.asarray(out)


@dataclasses.dataclass(frozen=True)
class Corpus:
  language: Language
  walks: dict[str, np.ndarray]  # split -> [N, W] word ids

  def tokens(self, split: str) -> np.ndarray:
    return encode([render(self.language, w) for w in self.walks[split]])

  def floor(self) -> dict[str, float]:
    """The source's mean NLL and confident fraction on validation."""
    logp = np.concatenate([source_log_probs(self.language, w)
                           for w in self.walks["validation"]])
    return {"entropy_rate": self.language.entropy_rate(),
            "validation_source_nll": float(-logp.mean()),
            "source_confident_fraction": float(np.mean(
                logp >= np.log(CONFIDENT)))}


def generate(recipe: Recipe = RECIPE, seed: int = SEED) -> Corpus:
  """The language and the documents' words (a few seconds)."""
  rng = np.random.default_rng(seed)
  language = make_language(rng, recipe)
  n = recipe.num_train + recipe.num_validation
  words = walks(language, n, rng)
  return Corpus(language, {"train": words[:recipe.num_train],
                           "validation": words[recipe.num_train:]})


class LexiconText(tfds.core.GeneratorBasedBuilder):
  """Documents of 256 characters from a 256-word Zipfian bigram language."""

  VERSION = tfds.core.Version("1.0.0")
  RELEASE_NOTES = {"1.0.0": "Initial release."}

  def _info(self) -> tfds.core.DatasetInfo:
    return tfds.core.DatasetInfo(
        builder=self,
        description=__doc__,
        features=tfds.features.FeaturesDict({
            "tokens": tfds.features.Tensor(shape=(RECIPE.window + 1,),
                                           dtype=np.int32),
        }),
        metadata=tfds.core.MetadataDict(),
    )

  def _split_generators(self, dl_manager):
    del dl_manager  # Generated from the recipe and the seed.
    corpus = generate()
    language = corpus.language
    self.info.metadata.update(
        recipe=json.dumps(dataclasses.asdict(RECIPE)), seed=SEED,
        tokenizer=tokenizer().to_str(), words=json.dumps(language.words),
        successors=json.dumps(language.successors.tolist()),
        vocab_size=RECIPE.vocab_size, window=RECIPE.window,
        **corpus.floor())
    return {split: self._generate_examples(corpus.tokens(split))
            for split in corpus.walks}

  def _generate_examples(self, rows: np.ndarray):
    for i, row in enumerate(rows):
      yield i, {"tokens": row}
