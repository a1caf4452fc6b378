"""`stdlib_text_bpe` and `stdlib_code_bpe`: BPE token windows for LMs.

The text variant tokenizes the passages of `stdlib_text` (docstrings and
reference topics, its train/validation split); the code variant tokenizes
whole stdlib source files (the files `common.parse_stdlib` reads), a file
going to validation when `sha1(path) % 50 == 0` (about 2%).

A byte-level BPE tokenizer (the `tokenizers` library) with `VOCAB_SIZE`
ids is trained on the train split only; the four ids of
`zoo.lm.special_tokens` come first. Each document becomes `<bos> ids <eos>`;
a split's documents, in source order, are concatenated and cut into
non-overlapping windows of `WINDOW + 1` tokens (the last partial window is
dropped), one record each: {"tokens": int32 [WINDOW + 1]}, inputs and
next-token targets of a window of `WINDOW`.

The tokenizer is stored as JSON in the dataset's metadata ("tokenizer");
`tokenizer(builder)` rebuilds it.
"""

import numpy as np
import tensorflow_datasets as tfds
import tokenizers
from tokenizers import decoders, models, pre_tokenizers, trainers

from train.data.builders import common, stdlib_text
from zoo.lm import special_tokens

VOCAB_SIZE = 2048
WINDOW = 256
SPLITS = ("train", "validation")


def train_tokenizer(texts: list[str],
                    vocab_size: int = VOCAB_SIZE) -> tokenizers.Tokenizer:
  """A byte-level BPE tokenizer whose first ids are the special tokens."""
  tok = tokenizers.Tokenizer(models.BPE())
  tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
  tok.decoder = decoders.ByteLevel()
  trainer = trainers.BpeTrainer(
      vocab_size=vocab_size, special_tokens=list(special_tokens.NAMES),
      initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
      show_progress=False)
  tok.train_from_iterator(texts, trainer=trainer)
  for i, name in enumerate(special_tokens.NAMES):
    assert tok.token_to_id(name) == i, (name, tok.token_to_id(name))
  return tok


def windows(tok: tokenizers.Tokenizer, texts: list[str]) -> np.ndarray:
  """[num_windows, WINDOW + 1] int32 from the concatenated documents."""
  stream = []
  for encoding in tok.encode_batch(texts):
    stream += [special_tokens.BOS, *encoding.ids, special_tokens.EOS]
  n = len(stream) // (WINDOW + 1)
  return np.asarray(stream[:n * (WINDOW + 1)], np.int32).reshape(
      n, WINDOW + 1)


def tokenizer(builder) -> tokenizers.Tokenizer:
  """The tokenizer stored with a prepared builder of this module."""
  return tokenizers.Tokenizer.from_str(builder.info.metadata["tokenizer"])


class _StdlibBpe(tfds.core.GeneratorBasedBuilder):
  """Shared by the text and code variants; `_documents` differs."""

  VERSION = tfds.core.Version("1.0.0")
  RELEASE_NOTES = {"1.0.0": "Initial release."}
  BUILDER_CONFIGS = [common.python_config()]

  def _documents(self, stdlib: common.Stdlib) -> dict[str, list[str]]:
    raise NotImplementedError

  def _info(self) -> tfds.core.DatasetInfo:
    return tfds.core.DatasetInfo(
        builder=self,
        description=__doc__,
        features=tfds.features.FeaturesDict({
            "tokens": tfds.features.Tensor(shape=(WINDOW + 1,),
                                           dtype=np.int32),
        }),
        homepage="https://docs.python.org/3/library/",
        metadata=tfds.core.MetadataDict(python=common.python_version(),
                                        vocab_size=VOCAB_SIZE,
                                        window=WINDOW),
    )

  def _split_generators(self, dl_manager):
    del dl_manager  # Everything is read from the local stdlib.
    with common.gc_paused():
      docs = self._documents(common.parse_stdlib())
    tok = train_tokenizer(docs["train"])
    self.info.metadata["tokenizer"] = tok.to_str()
    per_split = {split: windows(tok, docs[split]) for split in SPLITS}
    self.info.metadata.update(
        {f"num_tokens_{s}": int(w.size) for s, w in per_split.items()})
    return {split: self._generate_examples(w)
            for split, w in per_split.items()}

  def _generate_examples(self, rows: np.ndarray):
    for i, row in enumerate(rows):
      yield i, {"tokens": row}


class StdlibTextBpe(_StdlibBpe):
  """BPE windows of the stdlib's docstrings and reference topics."""

  def _documents(self, stdlib):
    corpus = stdlib_text.build_corpus(stdlib)
    return {split: [p.text for p in corpus.passages if p.split == split]
            for split in SPLITS}


class StdlibCodeBpe(_StdlibBpe):
  """BPE windows of the stdlib's Python source files."""

  def _documents(self, stdlib):
    docs = {split: [] for split in SPLITS}
    for module in stdlib.modules:
      split = ("validation" if common.stable_hash(module.path) % 50 == 0
               else "train")
      docs[split].append("\n".join(module.lines))
    return docs
