"""Named baseline rankers for `python -m eval retrieval --ranker NAME`.

Each is a function `(dataset, workdir) -> Ranker` like a system's `ranker`
reference; `BASELINES` collects them by name. Zero-shot all: nothing here
reads a workdir.
"""

from zoo.retrieval import minilm, rankers


def bm25(dataset: str, workdir: str | None) -> rankers.Ranker:
  """BM25 on punctuation-stripped lower-case tokens; code search splits
  identifiers on "_" and camelCase too."""
  del workdir
  return rankers.bm25_ranker("code_identifiers"
                             if dataset == "stdlib_code_search" else
                             "alnum_lower")


def bm25_whitespace(dataset: str, workdir: str | None) -> rankers.Ranker:
  """BM25 on whitespace-split lower-case tokens (loses "word?" matches)."""
  del dataset, workdir
  return rankers.bm25_ranker("whitespace_lower")


def single_vector(dataset: str, workdir: str | None) -> rankers.Ranker:
  """MiniLM sentence embeddings (mean-pooled), cosine similarity."""
  del dataset, workdir
  return rankers.single_vector(minilm.load())


def maxsim(dataset: str, workdir: str | None) -> rankers.Ranker:
  """MiniLM token vectors (384-d), MaxSim."""
  del dataset, workdir
  return rankers.maxsim_ranker(minilm.load())


def maxsim128(dataset: str, workdir: str | None) -> rankers.Ranker:
  """MiniLM token vectors through a fixed random 128-d projection, MaxSim."""
  del dataset, workdir
  return rankers.maxsim_ranker(minilm.load(), dim=128)


BASELINES = {f.__name__: f for f in (bm25, bm25_whitespace, single_vector,
                                     maxsim, maxsim128)}
