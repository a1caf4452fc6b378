"""Stdlib docstrings labelled by top-level package: a text-classification
corpus for word and document vectors (bit_cipher; binary_pv and others).

    docs = stdlib_labelled.load()          # 20 largest packages, ~4.4k docs
    docs.texts[i], docs.labels[i], docs.names[docs.labels[i]]
    corpus = stdlib_labelled.corpus_texts()  # all of stdlib_text, unlabelled
    ids, vocab = stdlib_labelled.encode(corpus)

Documents are the docstrings of `stdlib_text` (both splits; the pydoc
reference topics are left out). A document's label is its file's top-level
package or module: the first path component, ".py" dropped
("json/decoder.py::JSONDecoder" -> "json", "inspect.py" -> "inspect"). The
`num_labels` largest labels are kept (ties by name), and documents without
a word are dropped. Words are the lower-cased runs of letters and digits
(`words`).
"""

import dataclasses
import re
from collections import Counter
from collections.abc import Iterable

import numpy as np

from train.data import sources

DATASET = "stdlib_text"
SPLITS = "train+validation"
TOPICS_PREFIX = "pydoc_data.topics:"
NUM_LABELS = 20
_WORD = re.compile(r"[a-z0-9]+")


@dataclasses.dataclass(frozen=True)
class LabelledDocs:
  """Attributes:

    texts: the documents.
    labels: [N] int64, indices into `names`.
    names: the label names, largest class first.
    sources: each document's `stdlib_text` source ("path::qualname").
  """

  texts: list[str]
  labels: np.ndarray
  names: tuple[str, ...]
  sources: list[str]


def words(text: str) -> list[str]:
  """The lower-cased runs of ASCII letters and digits of `text`."""
  return _WORD.findall(text.lower())


def package_of(source: str) -> str:
  """"json/decoder.py::JSONDecoder" -> "json"; "os.py" -> "os"."""
  return source.split("::")[0].split("/")[0].removesuffix(".py")


def _records(data_dir=None) -> list[tuple[str, str]]:
  """(source, text) of every passage of `stdlib_text`, in storage order."""
  source = sources.data_source(DATASET, SPLITS, data_dir=data_dir)
  rows = source.__getitems__(list(range(len(source))))
  return [(r["source"].decode(), r["text"].decode()) for r in rows]


def corpus_texts(data_dir=None) -> list[str]:
  """Every passage of `stdlib_text` (docstrings and reference topics)."""
  return [text for _, text in _records(data_dir)]


def load(num_labels: int = NUM_LABELS, data_dir=None) -> LabelledDocs:
  """The docstrings of the `num_labels` largest packages, labelled."""
  docs = [(src, text) for src, text in _records(data_dir)
          if not src.startswith(TOPICS_PREFIX) and words(text)]
  sizes = Counter(package_of(src) for src, _ in docs)
  if not 1 <= num_labels <= len(sizes):
    raise ValueError(f"stdlib_labelled: num_labels must be in [1, "
                     f"{len(sizes)}], got {num_labels}")
  names = tuple(sorted(sizes, key=lambda n: (-sizes[n], n))[:num_labels])
  index = {name: i for i, name in enumerate(names)}
  kept = sorted((d for d in docs if package_of(d[0]) in index),
                key=lambda d: d[0])
  return LabelledDocs(
      texts=[text for _, text in kept],
      labels=np.array([index[package_of(src)] for src, _ in kept], np.int64),
      names=names, sources=[src for src, _ in kept])


def encode(texts: Iterable[str], vocab: dict[str, int] | None = None
           ) -> tuple[list[np.ndarray], dict[str, int]]:
  """Word ids of each text, and the vocabulary (word -> id).

  Without `vocab`, the vocabulary is every word of `texts`, ids in sorted
  word order; with it, words outside it are dropped.
  """
  tokenized = [words(t) for t in texts]
  if vocab is None:
    vocab = {w: i for i, w in enumerate(sorted({w for ws in tokenized
                                                for w in ws}))}
  ids = [np.array([vocab[w] for w in ws if w in vocab], np.int64)
         for ws in tokenized]
  return ids, vocab
