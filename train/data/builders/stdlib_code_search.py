"""`stdlib_code_search`: docstring -> function search over the Python stdlib.

Recipe (on CPython 3.11.7: 674 files, 15,268 functions, 5,787 with a docstring
of at least 5 words, 5,290 pairs; train 4,228 / validation 521 / test 541):

* every `.py` file of the running Python's stdlib, except under directories
  named test, tests, idlelib or site-packages;
* every `def` and `async def`, methods and nested functions included, named
  `path::qualname` (`qualname` as in `__qualname__`, nested functions under
  "outer.<locals>.");
* kept when its docstring (`ast.get_docstring`) has at least 5 words;
* query: the docstring's first line, cut after the first sentence end (".",
  "!" or "?" followed by white space);
* code: the function's source lines from its first decorator to its end, with
  its own and every nested docstring removed (a docstring that is the whole
  body becomes `pass`, so the code still parses). Methods keep their
  indentation;
* identical queries: only the first function in `path::qualname` order (ties
  in source order) is kept;
* split by `sha1(path::qualname) % 10`: 0-7 train, 8 validation, 9 test.
"""

import ast
import dataclasses
import re
from collections import Counter
from collections.abc import Iterable

import tensorflow_datasets as tfds

from train.data.builders import common

MIN_WORDS = 5
SPLITS = ("train", "validation", "test")

_SENTENCE_END = re.compile(r"[.!?]\s")


@dataclasses.dataclass(frozen=True)
class Pair:
  path: str
  qualname: str
  line: int
  query: str
  code: str

  @property
  def split(self) -> str:
    bucket = common.stable_hash(f"{self.path}::{self.qualname}") % 10
    return {8: "validation", 9: "test"}.get(bucket, "train")


def query_of(docstring: str) -> str:
  """The first line of a cleaned docstring, cut after its first sentence."""
  line = docstring.split("\n", 1)[0]
  end = _SENTENCE_END.search(line)
  return (line[: end.start() + 1] if end else line).strip()


def _prefix(line: str, col: int) -> str:
  return line.encode("utf-8")[:col].decode("utf-8")


def _suffix(line: str, col: int) -> str:
  return line.encode("utf-8")[col:].decode("utf-8")


def code_of(lines: list[str], node: common.FunctionNode) -> str:
  """`node`'s source with its own and all nested docstrings removed.

  Args:
    lines: the module's source lines, as numbered by `ast`.
    node: a function of that module.

  Returns:
    The lines from the first decorator to the end of the function, joined
    with "\\n". A docstring alone on its lines is deleted with them; one that
    shares a line with code, or is the only statement of its body, is
    replaced by `pass`.
  """
  start = min([d.lineno for d in node.decorator_list] + [node.lineno])
  out = lines[start - 1 : node.end_lineno]
  found = [(common.docstring_node(n), n) for n in ast.walk(node)]
  docs = sorted(
      ((doc, owner) for doc, owner in found if doc is not None),
      key=lambda item: item[0].lineno,
      reverse=True,
  )
  for doc, owner in docs:
    first, last = doc.lineno - start, doc.end_lineno - start
    head = _prefix(out[first], doc.col_offset)
    tail = _suffix(out[last], doc.end_col_offset)
    alone = not head.strip() and not tail.strip()
    if alone and len(owner.body) > 1:
      del out[first : last + 1]
    else:
      out[first : last + 1] = [head + "pass" + tail]
  return "\n".join(out).rstrip()


@dataclasses.dataclass(frozen=True)
class Corpus:
  pairs: list[Pair]
  stats: dict[str, int]


def build_corpus(stdlib: common.Stdlib) -> Corpus:
  """Extracts the deduplicated query/code pairs from a parsed stdlib."""
  candidates, functions = [], 0
  for module in stdlib.modules:
    for qualname, node in common.definitions(module.tree):
      if not isinstance(node, common.FunctionNode):
        continue
      functions += 1
      docstring = ast.get_docstring(node)
      if docstring is None or len(docstring.split()) < MIN_WORDS:
        continue
      candidates.append(
          Pair(
              path=module.path,
              qualname=qualname,
              line=node.lineno,
              query=query_of(docstring),
              code=code_of(module.lines, node),
          )
      )
  # A stable sort: functions sharing a path::qualname keep source order.
  candidates.sort(key=lambda p: f"{p.path}::{p.qualname}")
  first = {}
  for pair in candidates:
    first.setdefault(pair.query, pair)
  pairs = list(first.values())
  counts = Counter(p.query for p in candidates)
  per_split = Counter(p.split for p in pairs)
  stats = {
      "files_parsed": len(stdlib.modules),
      "files_unparsable": len(stdlib.skipped),
      "functions": functions,
      "with_docstring": len(candidates),
      "repeated_queries": sum(1 for n in counts.values() if n > 1),
      "dropped_duplicates": len(candidates) - len(pairs),
      "pairs": len(pairs),
      **{f"num_{split}": per_split[split] for split in SPLITS},
  }
  return Corpus(pairs, stats)


class StdlibCodeSearch(tfds.core.GeneratorBasedBuilder):
  """Docstring -> function pairs from the running Python's stdlib."""

  VERSION = tfds.core.Version("1.0.0")
  RELEASE_NOTES = {"1.0.0": "Initial release."}
  BUILDER_CONFIGS = [common.python_config()]

  def _info(self) -> tfds.core.DatasetInfo:
    return tfds.core.DatasetInfo(
        builder=self,
        description=(
            "Code search over the standard library of "
            f"{common.python_version()}: `query` is the first sentence of a "
            "function's docstring, `code` the function without docstrings."
            f"\n\n{__doc__}"
        ),
        features=tfds.features.FeaturesDict({
            "query": tfds.features.Text(),
            "code": tfds.features.Text(),
            "qualname": tfds.features.Text(),
            "path": tfds.features.Text(),
        }),
        supervised_keys=("query", "code"),
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
            [p for p in corpus.pairs if p.split == split]
        )
        for split in SPLITS
    }

  def _generate_examples(self, pairs: Iterable[Pair]):
    for pair in pairs:
      yield f"{pair.path}:{pair.line}", {
          "query": pair.query,
          "code": pair.code,
          "qualname": pair.qualname,
          "path": pair.path,
      }
