"""Retrieval datasets as plain lists: queries, a candidate pool, qrels.

`limit_small`: 1000 queries against its 46 documents.
`stdlib_code_search`: docstring queries of one split against a pool of
functions: "split" (that split's own functions) or "all" (all 5,290). The
pool must be stated with every number, since it moves nDCG@10 by 0.2.
"""

import dataclasses

from train.data import sources

DATASETS = ("limit_small", "stdlib_code_search")
POOLS = ("split", "all")


@dataclasses.dataclass(frozen=True)
class RetrievalSet:
  name: str
  query_ids: list[str]
  queries: list[str]
  doc_ids: list[str]
  docs: list[str]
  qrels: dict[str, set[str]]  # query id -> relevant doc ids

  def subset(self, num_queries: int) -> "RetrievalSet":
    """The first `num_queries` queries (the pool is unchanged)."""
    ids = self.query_ids[:num_queries]
    return dataclasses.replace(
        self, query_ids=ids, queries=self.queries[:num_queries],
        qrels={q: self.qrels[q] for q in ids})


def _text(value) -> str:
  return value.decode() if isinstance(value, bytes) else str(value)


def _records(name: str, split: str) -> list[dict]:
  source = sources.data_source(name, split)
  return sorted(source.__getitems__(range(len(source))),
                key=lambda r: _text(r.get("id", r.get("qualname", b""))))


def load(name: str, *, split: str = "test", pool: str = "split"
         ) -> RetrievalSet:
  """A retrieval set; for code search, `split` picks the queries."""
  if name == "limit_small":
    corpus = _records(name, "corpus")
    queries = sorted(_records(name, "queries"),
                     key=lambda r: int(_text(r["id"]).split("_")[-1]))
    return RetrievalSet(
        name, [_text(q["id"]) for q in queries],
        [_text(q["text"]) for q in queries],
        [_text(d["id"]) for d in corpus], [_text(d["text"]) for d in corpus],
        {_text(q["id"]): {_text(r) for r in q["relevant"]} for q in queries})
  if name == "stdlib_code_search":
    if pool not in POOLS:
      raise ValueError(f"pool must be one of {POOLS}, got {pool!r}")
    pairs = _code_pairs(split)
    pool_pairs = pairs if pool == "split" else [
        p for s in ("train", "validation", "test") for p in _code_pairs(s)]
    return RetrievalSet(
        f"{name}[{split} queries, {pool} pool]",
        [key for key, _, _ in pairs], [query for _, query, _ in pairs],
        [key for key, _, _ in pool_pairs], [code for _, _, code in pool_pairs],
        {key: {key} for key, _, _ in pairs})
  raise ValueError(f"unknown retrieval dataset {name!r}; known: {DATASETS}")


def _code_pairs(split: str) -> list[tuple[str, str, str]]:
  """(key, query, code) of one split, ordered by key."""
  source = sources.data_source("stdlib_code_search", split)
  rows = [(f"{_text(r['path'])}::{_text(r['qualname'])}", _text(r["query"]),
           _text(r["code"])) for r in source.__getitems__(range(len(source)))]
  # A few functions share path::qualname (defined twice); keep keys unique.
  seen: dict[str, int] = {}
  unique = []
  for key, query, code in sorted(rows):
    seen[key] = seen.get(key, 0) + 1
    unique.append((key if seen[key] == 1 else f"{key}#{seen[key]}", query,
                   code))
  return unique
