"""The labelled docstring corpus: labels by top-level package, the largest
classes kept, reference topics and wordless documents left out."""

import numpy as np
import pytest

from train.data import stdlib_labelled

RECORDS = [
    ("json/decoder.py::JSONDecoder", "Decode JSON."),
    ("json/__init__.py::dumps", "Serialize obj to a JSON str."),
    ("os.py::walk", "Directory tree generator."),
    ("os.py::fspath", "Return the path."),
    ("os.py::x", "..."),  # no word: dropped
    ("abc.py::ABC", "Helper class."),
    ("pydoc_data.topics:assert", "The assert statement. json json json"),
    ("zlib.py::f", "One."),
]


@pytest.fixture
def fake_corpus(monkeypatch):
  monkeypatch.setattr(stdlib_labelled, "_records", lambda data_dir=None:
                      list(reversed(RECORDS)))


def test_words_and_packages():
  assert stdlib_labelled.words("Return a_b's UTF-8 x2!") == [
      "return", "a", "b", "s", "utf", "8", "x2"]
  assert stdlib_labelled.package_of("json/decoder.py::JSONDecoder") == "json"
  assert stdlib_labelled.package_of("inspect.py") == "inspect"


def test_load_keeps_the_largest_packages_sorted_by_source(fake_corpus):
  docs = stdlib_labelled.load(num_labels=3)
  # json 2, os 2, then abc and zlib tie at 1: the name breaks the tie.
  assert docs.names == ("json", "os", "abc")
  assert docs.sources == sorted(docs.sources)
  assert len(docs.texts) == 5 and "..." not in docs.texts
  for source, label in zip(docs.sources, docs.labels):
    assert docs.names[label] == stdlib_labelled.package_of(source)
  assert not any(s.startswith(stdlib_labelled.TOPICS_PREFIX)
                 for s in docs.sources)


def test_corpus_keeps_every_passage(fake_corpus):
  assert len(stdlib_labelled.corpus_texts()) == len(RECORDS)


def test_encode_uses_sorted_words_and_drops_unknown_ones():
  ids, vocab = stdlib_labelled.encode(["b a", "c a"])
  assert vocab == {"a": 0, "b": 1, "c": 2}
  np.testing.assert_array_equal(ids[0], [1, 0])
  ids, _ = stdlib_labelled.encode(["a d c"], vocab)
  np.testing.assert_array_equal(ids[0], [0, 2])


def test_bad_number_of_labels_is_one_clear_error(fake_corpus):
  with pytest.raises(ValueError, match=r"num_labels must be in \[1, 4\]"):
    stdlib_labelled.load(num_labels=5)
