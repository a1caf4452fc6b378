"""The bundled datasets: contents, splits, determinism and the build cache."""

import ast
import os
import pathlib
import re
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from sklearn import datasets as sk_datasets

from train import data
from train.data import builders
from train.data.builders import common, digits, stdlib_code_search

SPLITS = {
    "digits": ("train", "test"),
    "stdlib_code_search": ("train", "validation", "test"),
    "stdlib_text": ("train", "validation"),
}
# The counts documented for the stdlib of CPython 3.11.7.
CODE_SEARCH_3_11_7 = {
    "files_parsed": 674,
    "functions": 15268,
    "with_docstring": 5787,
    "repeated_queries": 337,
    "dropped_duplicates": 497,
    "pairs": 5290,
    "num_train": 4228,
    "num_validation": 521,
    "num_test": 541,
}


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> pathlib.Path:
  root = tmp_path_factory.mktemp("datasets")
  for name in SPLITS:  # the source datasets (not derived feature sets)
    data.prepare(name, root)
  return root


def _records(name: str, split: str, root: pathlib.Path) -> list[dict]:
  source = data.data_source(name, split, root)
  return source.__getitems__(list(range(len(source))))


def _text(value) -> str:
  return value.decode("utf-8")


def _run(*args: str) -> subprocess.Popen:
  env = dict(os.environ, PYTHONPATH=str(pathlib.Path(__file__).parents[2]))
  return subprocess.Popen(
      [sys.executable, "-c", *args],
      stdout=subprocess.PIPE,
      stderr=subprocess.PIPE,
      env=env,
      text=True,
  )


def test_import_does_not_load_tensorflow_datasets():
  run = _run(
      "import sys, train.data; "
      "assert 'tensorflow_datasets' not in sys.modules, 'loaded'"
  )
  _, err = run.communicate(timeout=60)
  assert run.returncode == 0, err


def test_names_are_the_builders():
  names = data.names()
  assert list(names) == sorted(set(names))
  assert {"digit_strips", "digits", "limit_small", "parallelbench_lists",
          "stdlib_code_bpe", "stdlib_code_search", "stdlib_code_search_minilm",
          "stdlib_text", "stdlib_text_bpe"} <= set(names)
  for name in names:  # each name is its builder class's, from the builders
    builder = builders.builder_class(name)
    assert builder.__module__.startswith("train.data.builders.")
    assert builders.dataset_name(f":{builder.__name__}") == name


def test_unknown_name_lists_the_known_ones(tmp_path):
  with pytest.raises(ValueError, match="stdlib_code_search") as error:
    data.data_source("mnist", "train", tmp_path)
  assert "'mnist'" in str(error.value)


def test_missing_data_dir_is_an_error_and_not_created(tmp_path):
  missing = tmp_path / "absent"
  with pytest.raises(data.DataDirNotFoundError, match=str(missing)):
    data.data_source("digits", "train", missing)
  assert issubclass(data.DataDirNotFoundError, FileNotFoundError)
  assert not missing.exists()


def test_data_dir_from_environment(tmp_path, monkeypatch):
  monkeypatch.delenv("ZOO_DATA_DIR", raising=False)
  monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
  assert data.data_dir() == tmp_path / "cache" / "zoo" / "datasets"
  monkeypatch.setenv("ZOO_DATA_DIR", str(tmp_path / "unset"))
  assert data.data_dir() == tmp_path / "unset"
  with pytest.raises(data.DataDirNotFoundError, match="ZOO_DATA_DIR"):
    data.data_source("digits", "train")


def test_default_data_dir_is_created(tmp_path, monkeypatch):
  monkeypatch.delenv("ZOO_DATA_DIR", raising=False)
  monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
  assert len(data.data_source("digits", "test")) == 360
  assert (tmp_path / "cache" / "zoo" / "datasets" / "digits").is_dir()


def test_split_sizes_match_the_metadata(built):
  for name, splits in SPLITS.items():
    builder = data.prepare(name, built)
    assert set(builder.info.splits) == set(splits)
    for split in splits:
      assert len(data.data_source(name, split, built)) == (
          builder.info.splits[split].num_examples
      )


def test_digits(built):
  train = _records("digits", "train", built)
  test = _records("digits", "test", built)
  both = _records("digits", "train+test", built)
  assert (len(train), len(test), len(both)) == (1437, 360, 1797)
  index = [r["index"] for r in both]
  assert sorted(index) == list(range(1797))
  assert not {r["index"] for r in train} & {r["index"] for r in test}
  assert np.bincount([r["label"] for r in test]).tolist() == [36] * 10
  reference = sk_datasets.load_digits()
  images = np.stack([r["image"] for r in both])
  assert images.shape == (1797, 8, 8) and images.dtype == np.float32
  assert images.min() == 0.0 and images.max() == 1.0
  np.testing.assert_array_equal(images, reference.images[index] / 16.0)
  assert [r["label"] for r in both] == reference.target[index].tolist()


def test_datasets_are_deterministic(built, tmp_path):
  for name, splits in SPLITS.items():
    data.prepare(name, tmp_path)
    for split in splits:
      first = _records(name, split, built)
      second = _records(name, split, tmp_path)
      assert len(first) == len(second)
      for a, b in zip(first, second, strict=True):
        assert a.keys() == b.keys()
        for key in a:
          np.testing.assert_array_equal(a[key], b[key])


def test_stdlib_configs_name_the_python(built):
  for name in ("stdlib_code_search", "stdlib_text"):
    builder = data.prepare(name, built)
    assert builder.builder_config.name == common.python_config().name
    assert builder.info.metadata["python"] == common.python_version()
    assert common.python_version() in builder.info.description


def test_code_search_counts(built):
  stats = dict(data.prepare("stdlib_code_search", built).info.metadata)
  if sys.version_info[:3] == (3, 11, 7):
    assert {k: stats[k] for k in CODE_SEARCH_3_11_7} == CODE_SEARCH_3_11_7
  splits = SPLITS["stdlib_code_search"]
  assert stats["pairs"] == sum(stats[f"num_{s}"] for s in splits)
  dropped = stats["dropped_duplicates"]
  assert stats["pairs"] == stats["with_docstring"] - dropped


def test_code_search_splits(built):
  seen, queries = {}, set()
  for split in SPLITS["stdlib_code_search"]:
    for record in _records("stdlib_code_search", split, built):
      name = f"{_text(record['path'])}::{_text(record['qualname'])}"
      bucket = common.stable_hash(name) % 10
      assert split == {8: "validation", 9: "test"}.get(bucket, "train")
      assert seen.setdefault(name, split) == split
      query = _text(record["query"])
      assert query not in queries
      queries.add(query)


def test_code_search_queries_follow_the_rules(built):
  for record in _records("stdlib_code_search", "test", built):
    query = _text(record["query"])
    assert query and query == query.strip() and "\n" not in query
    assert not re.search(r"[.!?]\s", query)


def test_query_of():
  assert stdlib_code_search.query_of("Return x. Then y.\nMore.") == "Return x."
  assert stdlib_code_search.query_of("Is it? Yes") == "Is it?"
  assert stdlib_code_search.query_of("Use os.path here\nx. y") == (
      "Use os.path here")
  assert stdlib_code_search.query_of("Version 1.2 works") == "Version 1.2 works"


def _parse(code: str) -> ast.Module:
  # Methods keep their indentation; a block header makes them parse.
  return ast.parse("if 1:\n" + code if code[:1].isspace() else code)


def test_code_has_no_docstrings(built):
  for record in _records("stdlib_code_search", "train", built):
    code = _text(record["code"])
    tree = _parse(code)
    function = tree.body[0].body[0] if code[:1].isspace() else tree.body[0]
    assert function.name == _text(record["qualname"]).rsplit(".", 1)[-1]
    for node in ast.walk(tree):
      assert common.docstring_node(node) is None


def test_code_of_strips_every_docstring():
  source = textwrap.dedent('''\
      class A:
        @staticmethod
        @other(
            1)
        def f(x):
          """Doc of f.

          More.
          """
          def g():
            """Only a docstring."""
          class B:
            "Doc of B."
            y = 1
          def h(): "One line."
          return x  # done

      def after(): pass
      ''')
  tree = ast.parse(source)
  method = tree.body[0].body[0]
  code = stdlib_code_search.code_of(source.split("\n"), method)
  assert code == textwrap.indent(textwrap.dedent('''\
      @staticmethod
      @other(
          1)
      def f(x):
        def g():
          pass
        class B:
          y = 1
        def h(): pass
        return x  # done'''), "  ")


def test_stdlib_text(built):
  stats = data.prepare("stdlib_text", built).info.metadata
  texts, sources_seen = set(), {}
  for split in SPLITS["stdlib_text"]:
    records = _records("stdlib_text", split, built)
    assert len(records) == stats[f"num_{split}"]
    for record in records:
      text, source = _text(record["text"]), _text(record["source"])
      assert text and text not in texts
      texts.add(text)
      assert sources_seen.setdefault(source, split) == split
  assert stats["passages"] == len(texts)
  assert 0.03 < stats["num_validation"] / stats["passages"] < 0.07
  assert "json/decoder.py::JSONDecoder.decode" in sources_seen
  assert "pydoc_data.topics:assert" in sources_seen
  assert stats["topics"] > 50


def test_cache_is_reused(built, monkeypatch):
  builder = data.prepare("digits", built)
  info = builder.data_path / "dataset_info.json"
  stamp = os.stat(info).st_mtime_ns

  def fail(*args, **kwargs):
    raise AssertionError("rebuilt a built dataset")

  monkeypatch.setattr(digits.Digits, "download_and_prepare", fail)
  assert len(data.data_source("digits", "train", built)) == 1437
  assert os.stat(info).st_mtime_ns == stamp


def test_failed_build_leaves_nothing_readable(tmp_path, monkeypatch):
  def broken(self, images, labels, indices):
    yield 0, {"image": images[0], "label": labels[0], "index": 0}
    raise RuntimeError("interrupted")

  with monkeypatch.context() as patch:
    patch.setattr(digits.Digits, "_generate_examples", broken)
    with pytest.raises(RuntimeError, match="interrupted"):
      data.prepare("digits", tmp_path)
  assert not (tmp_path / "digits" / "1.0.0").exists()
  assert len(data.data_source("digits", "train+test", tmp_path)) == 1797


def test_concurrent_builds(tmp_path):
  script = (
      "import sys; from train import data; "
      "print(len(data.data_source('digits', 'train+test', sys.argv[1])))"
  )
  runs = [_run(script, str(tmp_path)) for _ in range(2)]
  logs = []
  for run in runs:
    out, err = run.communicate(timeout=120)
    assert run.returncode == 0, err
    assert out.splitlines() == ["1797"]  # build messages stay off stdout
    logs.append(err)
  # TFDS announces each build (on stderr here): only one process built.
  assert sum(err.count("Downloading and preparing") for err in logs) == 1
  # One finished version and no leftover `incomplete.*` directory.
  built = [p.name for p in (tmp_path / "digits").iterdir()]
  assert sorted(n for n in built if not n.startswith(".")) == ["1.0.0"]
