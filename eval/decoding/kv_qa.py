"""Synthetic extractive QA over key = value passages, for exact-extract.

    examples = make_examples(tokenizer.encode, num=200, seed=0)
    arrays = batch(examples)  # right-padded prompts and passage spans

A prompt is `<bos>k1 = v1 ; k2 = v2 ; ... kn = vn ; question: kj ?`; the
answer is vj, then EOS. Keys are distinct names, values are one or two words
or a number, drawn so that every value is 1..3 tokens. The text is encoded
piece by piece at the byte-level pre-tokenizer's word boundaries (each
piece carries its leading space), so the ids equal those of the whole
string and the gold value's tokens are a known span of the passage.
"""

import dataclasses
from collections.abc import Callable

import numpy as np

from zoo.lm import special_tokens

KEYS = (
    "name", "port", "host", "user", "mode", "size", "path", "level",
    "color", "limit", "owner", "timeout", "format", "version", "encoding",
    "status", "city", "animal", "fruit", "planet", "country", "language",
    "author", "title", "editor", "prefix", "suffix", "default", "method",
    "target", "source", "backend", "protocol", "region", "weather", "metal",
)
WORDS = (
    "red", "blue", "green", "yellow", "silver", "golden", "apple", "orange",
    "tiger", "rabbit", "falcon", "paris", "london", "tokyo", "berlin",
    "seven", "twelve", "true", "false", "none", "ascii", "latin", "debug",
    "error", "warning", "maple", "ocean", "river", "mountain", "winter",
    "summer", "copper", "iron", "glass", "paper", "stone", "quick", "lazy",
    "north", "south", "alpha", "beta", "gamma", "delta", "kernel", "socket",
)
MAX_VALUE_TOKENS = 3


@dataclasses.dataclass(frozen=True)
class Example:
  """One question.

  Attributes:
    tokens: [P] int32 prompt ids, starting with BOS.
    passage_start, passage_len: the passage's token span in `tokens`.
    answer_start, answer_len: the gold value's span, relative to the
      passage.
    answer: the gold value's text.
  """

  tokens: np.ndarray
  passage_start: int
  passage_len: int
  answer_start: int
  answer_len: int
  answer: str

  @property
  def answer_tokens(self) -> np.ndarray:
    start = self.passage_start + self.answer_start
    return self.tokens[start:start + self.answer_len]


def _value(rng: np.random.Generator, encode) -> str:
  """A value of 1..MAX_VALUE_TOKENS tokens (after a space)."""
  while True:
    kind = rng.integers(3)
    if kind == 0:
      text = str(int(rng.integers(2, 10_000)))
    else:
      text = " ".join(rng.choice(WORDS, size=kind, replace=False))
    if 1 <= len(encode(" " + text)) <= MAX_VALUE_TOKENS:
      return text


def make_examples(encode: Callable[[str], list[int]], num: int,
                  seed: int = 0, num_pairs: tuple[int, int] = (4, 8)
                  ) -> list[Example]:
  """`num` seeded examples with num_pairs[0]..num_pairs[1] pairs each.

  Args:
    encode: text -> token ids (no special tokens added).
    num: how many examples.
    seed: their seed.
    num_pairs: inclusive range of key = value pairs per passage.
  """
  lo, hi = num_pairs
  if not 1 <= lo <= hi <= len(KEYS):
    raise ValueError(f"make_examples: num_pairs must satisfy 1 <= lo <= hi "
                     f"<= {len(KEYS)}, got {num_pairs}")
  rng = np.random.default_rng(seed)
  examples = []
  for _ in range(num):
    n = int(rng.integers(lo, hi + 1))
    keys = rng.choice(KEYS, size=n, replace=False)
    values = [_value(rng, encode) for _ in range(n)]
    asked = int(rng.integers(n))
    ids = [special_tokens.BOS]
    for j, (key, value) in enumerate(zip(keys, values)):
      ids += encode(key if j == 0 else " " + key) + encode(" =")
      if j == asked:
        answer_start = len(ids) - 1
      ids += encode(" " + value)
      if j == asked:
        answer_len = len(ids) - 1 - answer_start
      ids += encode(" ;")
    passage_len = len(ids) - 1
    ids += encode(" question:") + encode(" " + keys[asked]) + encode(" ?")
    examples.append(Example(np.asarray(ids, np.int32), 1, passage_len,
                            answer_start, answer_len, values[asked]))
  return examples


def batch(examples: list[Example]) -> dict[str, np.ndarray]:
  """The arguments of `ops.decoding.exact_extract.span_scores`.

  Returns:
    prompt [B, P] int32 right-padded with PAD, prompt_len, passage_start
    and passage_len [B] int32.
  """
  width = max(len(e.tokens) for e in examples)
  prompt = np.full((len(examples), width), special_tokens.PAD, np.int32)
  for row, e in enumerate(examples):
    prompt[row, :len(e.tokens)] = e.tokens
  column = lambda f: np.array([f(e) for e in examples], np.int32)
  return dict(prompt=prompt, prompt_len=column(lambda e: len(e.tokens)),
              passage_start=column(lambda e: e.passage_start),
              passage_len=column(lambda e: e.passage_len))
