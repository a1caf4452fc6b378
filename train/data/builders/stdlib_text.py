"""`stdlib_text`: English text from the Python stdlib, for language models.

Records:

* every module, class and function docstring of the running Python's stdlib
  (the files that `stdlib_code_search` reads), cleaned with
  `inspect.cleandoc`; `source` is "path" for a module and "path::qualname"
  otherwise;
* every reference topic in the `topics` dict of `pydoc_data/topics.py` (the
  text `help()` shows for keywords and statements), read with
  `ast.literal_eval`; `source` is "pydoc_data.topics:<topic>".

Empty texts are dropped, and of identical texts only the first in `source`
order (ties in source order) is kept. Split by `sha1(source) % 20`: 0 is
validation (about 5%), the rest train. The split is independent of
`stdlib_code_search`'s, so a model trained on this corpus has read the
docstrings behind that dataset's test queries.
"""

import ast
import dataclasses
import inspect
from collections import Counter
from collections.abc import Iterable

import tensorflow_datasets as tfds

from train.data.builders import common

SPLITS = ("train", "validation")
TOPICS_PATH = "pydoc_data/topics.py"


@dataclasses.dataclass(frozen=True)
class Passage:
  source: str
  line: int
  text: str

  @property
  def split(self) -> str:
    if common.stable_hash(self.source) % 20 == 0:
      return "validation"
    return "train"


def _docstrings(stdlib: common.Stdlib) -> Iterable[Passage]:
  for module in stdlib.modules:
    nodes = [(module.path, module.tree)] + [
        (f"{module.path}::{qualname}", node)
        for qualname, node in common.definitions(module.tree)
    ]
    for source, node in nodes:
      doc = common.docstring_node(node)
      if doc is not None:
        yield Passage(source, doc.lineno, inspect.cleandoc(doc.value.value))


def _topics(stdlib: common.Stdlib) -> Iterable[Passage]:
  for module in stdlib.modules:
    if module.path != TOPICS_PATH:
      continue
    for statement in module.tree.body:
      if (
          isinstance(statement, ast.Assign)
          and len(statement.targets) == 1
          and isinstance(statement.targets[0], ast.Name)
          and statement.targets[0].id == "topics"
      ):
        topics = ast.literal_eval(statement.value)
        for topic, text in topics.items():
          yield Passage(
              f"pydoc_data.topics:{topic}", statement.lineno, text.strip()
          )


@dataclasses.dataclass(frozen=True)
class Corpus:
  passages: list[Passage]
  stats: dict[str, int]


def build_corpus(stdlib: common.Stdlib) -> Corpus:
  """The deduplicated, non-empty passages, sorted by source."""
  docstrings, topics = list(_docstrings(stdlib)), list(_topics(stdlib))
  passages = [p for p in docstrings + topics if p.text]
  # A stable sort: passages sharing a source keep source order.
  passages.sort(key=lambda p: p.source)
  first = {}
  for passage in passages:
    first.setdefault(passage.text, passage)
  kept = list(first.values())
  per_split = Counter(p.split for p in kept)
  stats = {
      "files_parsed": len(stdlib.modules),
      "files_unparsable": len(stdlib.skipped),
      "docstrings": len(docstrings),
      "topics": len(topics),
      "empty": len(docstrings) + len(topics) - len(passages),
      "dropped_duplicates": len(passages) - len(kept),
      "passages": len(kept),
      **{f"num_{split}": per_split[split] for split in SPLITS},
  }
  return Corpus(kept, stats)


class StdlibText(tfds.core.GeneratorBasedBuilder):
  """Docstrings and reference topics of the running Python's stdlib."""

  VERSION = tfds.core.Version("1.0.0")
  RELEASE_NOTES = {"1.0.0": "Initial release."}
  BUILDER_CONFIGS = [common.python_config()]

  def _info(self) -> tfds.core.DatasetInfo:
    return tfds.core.DatasetInfo(
        builder=self,
        description=(
            "Docstrings and reference topics from the standard library of "
            f"{common.python_version()}.\n\n{__doc__}"
        ),
        features=tfds.features.FeaturesDict({
            "text": tfds.features.Text(),
            "source": tfds.features.Text(),
        }),
        homepage="https://docs.python.org/3/library/",
        metadata=tfds.core.MetadataDict(python=common.python_version()),
    )

  def _split_generators(self, dl_manager):
    del dl_manager  # Everything is read from the local stdlib.
    with common.gc_paused():
      corpus = build_corpus(common.parse_stdlib())
    self.info.metadata.update(corpus.stats)
    return {
        split: self._generate_examples(
            [p for p in corpus.passages if p.split == split]
        )
        for split in SPLITS
    }

  def _generate_examples(self, passages: Iterable[Passage]):
    for passage in passages:
      yield f"{passage.source}:{passage.line}", {
          "text": passage.text,
          "source": passage.source,
      }
