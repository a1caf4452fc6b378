"""`stdlib_docstring_package`: stdlib docstrings labelled by the top-level
module or package they come from, for probing text representations.

Recipe: the docstrings of `stdlib_text` (its deduplicated passages, the
`pydoc_data` topics left out); a docstring's label is the first component
of its file's path, ".py" removed ("email/mime/text.py::MIMEText" ->
"email"); only the `NUM_CLASSES` labels with the most docstrings are kept
(ties by name), numbered in that order. Split by `sha1(source) % 5`: 0 is
`test` (about 20%), the rest `train`, independent of `stdlib_text`'s split,
so the LMs trained on `stdlib_text_bpe` have read every docstring here.
"""

from collections import Counter

import tensorflow_datasets as tfds

from train.data.builders import common, stdlib_text

NUM_CLASSES = 16
SPLITS = ("train", "test")


def package(source: str) -> str:
  """"email/mime/text.py::MIMEText" -> "email"."""
  return source.split("::")[0].split("/")[0].removesuffix(".py")


def split_of(source: str) -> str:
  return "test" if common.stable_hash(source) % 5 == 0 else "train"


def labelled(passages) -> tuple[list[str], list[tuple]]:
  """(the kept package names in label order, [(passage, label)])."""
  docstrings = [p for p in passages
                if not p.source.startswith("pydoc_data.topics")]
  counts = Counter(package(p.source) for p in docstrings)
  names = sorted(counts, key=lambda name: (-counts[name], name))
  names = names[:NUM_CLASSES]
  index = {name: i for i, name in enumerate(names)}
  return names, [(p, index[package(p.source)]) for p in docstrings
                 if package(p.source) in index]


class StdlibDocstringPackage(tfds.core.GeneratorBasedBuilder):
  """Stdlib docstrings and the package each comes from (16 classes)."""

  VERSION = tfds.core.Version("1.0.0")
  RELEASE_NOTES = {"1.0.0": "Initial release."}
  BUILDER_CONFIGS = [common.python_config()]

  def _info(self) -> tfds.core.DatasetInfo:
    return tfds.core.DatasetInfo(
        builder=self,
        description=(f"Docstrings of {common.python_version()}'s stdlib "
                     f"labelled by package.\n\n{__doc__}"),
        features=tfds.features.FeaturesDict({
            "text": tfds.features.Text(),
            "source": tfds.features.Text(),
            "label": tfds.features.ClassLabel(num_classes=NUM_CLASSES),
        }),
        metadata=tfds.core.MetadataDict(python=common.python_version()),
    )

  def _split_generators(self, dl_manager):
    del dl_manager  # Everything is read from the local stdlib.
    with common.gc_paused():
      corpus = stdlib_text.build_corpus(common.parse_stdlib())
    names, examples = labelled(corpus.passages)
    self.info.metadata.update(packages=",".join(names))
    return {split: self._generate_examples(
        [(p, label) for p, label in examples if split_of(p.source) == split])
            for split in SPLITS}

  def _generate_examples(self, examples):
    # Sources may repeat (a property's getter and setter): number them.
    for i, (passage, label) in enumerate(examples):
      yield i, {"text": passage.text, "source": passage.source,
                             "label": label}
