"""Vector PRF with dense-sparse interpolation before, after or both.

Li, Wang, Zhuang, Mourad, Ma, Lin, Zuccon, "To Interpolate or not to
Interpolate: PRF, Dense and Sparse Retrievers" (SIGIR 2022), on pyserini's
Vector PRF and hybrid searcher (`ops.prf`). The dense retriever is MiniLM
single-vector (mean-pooled, unit, cosine), the sparse one BM25
(`zoo.retrieval.bm25`; code search splits identifiers); nothing is trained.
Four placements of the interpolation around one round of Vector PRF:

  none:   dense run -> PRF -> dense re-search;
  before: interpolated run -> PRF -> dense re-search;
  after:  dense run -> PRF -> dense re-search, interpolated with BM25;
  both:   interpolated run -> PRF -> re-search, interpolated with BM25.

PRF settings are pyserini's runs: Average with depth 3, Rocchio with depth 5,
alpha 0.4, beta 0.6. Choices of ours (the paper's tables were not read):
  - each run contributes its top 100 to the fusion (pyserini: 1,000 hits);
  - scores are normalised before fusing (pyserini's `--normalization`);
  - "both" uses one alpha for both fusions;
  - `python -m eval retrieval --ranker prf_<placement>` uses Average PRF and
    alpha = 1 (equal weights after normalising); the claim check picks alpha
    per placement on selection queries instead.
"""

import dataclasses

import numpy as np
from jax import numpy as jnp

from ops import prf
from zoo import registry
from zoo.retrieval import bm25, minilm, rankers

SYSTEM = registry.System(
    name="vector_prf",
    family="retrieval",
    paper="To Interpolate or not to Interpolate: PRF, Dense and Sparse "
          "Retrievers",
    summary="Vector PRF (Average, Rocchio) on MiniLM with BM25 interpolated "
            "before, after or both; rankers prf_none/before/after/both.",
    claim="eval.claims.vector_prf:check",
    ranker="zoo.retrieval.vector_prf:RANKERS",
    datasets=("train.data.builders.limit_small:LimitSmall",
              "train.data.builders.stdlib_code_search:StdlibCodeSearch"),
)

PLACEMENTS = ("none", "before", "after", "both")
FUSION_DEPTH = 100
DEFAULT_ALPHA = 1.0


@dataclasses.dataclass(frozen=True)
class PrfSettings:
  """One Vector PRF variant (`ops.prf.vector_prf`'s arguments)."""

  method: str
  depth: int
  alpha: float = 0.4
  beta: float = 0.6


AVERAGE = PrfSettings("average", 3)
ROCCHIO = PrfSettings("rocchio", 5, 0.4, 0.6)


@dataclasses.dataclass(frozen=True)
class Runs:
  """What every placement reads: unit query and document vectors, BM25."""

  queries: np.ndarray  # [Q, D]
  docs: np.ndarray  # [N, D]
  sparse: np.ndarray  # [Q, N] BM25 scores

  def subset(self, rows) -> "Runs":
    """These queries only (the documents are unchanged)."""
    return Runs(self.queries[rows], self.docs, self.sparse[rows])


def encode(encoder, queries, docs, tokenizer: str) -> Runs:
  """MiniLM sentence vectors and BM25 scores of texts."""
  return Runs(encoder.encode_sentences(queries),
              encoder.encode_sentences(docs),
              bm25.scores(queries, docs, tokenizer=tokenizer))


def dense_scores(queries, docs) -> jnp.ndarray:
  """Inner products [Q, N] of query [Q, D] and document [N, D] vectors."""
  return jnp.dot(jnp.asarray(queries), jnp.asarray(docs).T,
                 precision="highest")


def placement_scores(runs: Runs, placement: str,
                     settings: PrfSettings = AVERAGE, *,
                     alpha: float = DEFAULT_ALPHA,
                     fusion_depth: int = FUSION_DEPTH) -> np.ndarray:
  """Final scores [Q, N] of one placement (-inf outside a fused union).

  Args:
    runs: the encoded queries, documents and BM25 scores.
    placement: one of `PLACEMENTS`.
    settings: the Vector PRF variant.
    alpha: weight of BM25 in each fusion (unused by "none").
    fusion_depth: documents each run contributes to a fusion (at most N).

  Raises:
    ValueError: unknown placement, or bad settings (from `ops.prf`).
  """
  if placement not in PLACEMENTS:
    raise ValueError(f"placement must be one of {PLACEMENTS}, got "
                     f"{placement!r}")
  fusion_depth = min(fusion_depth, runs.docs.shape[0])
  sparse = jnp.asarray(runs.sparse, jnp.float32)

  def fuse(dense):
    return prf.interpolate(sparse, dense, alpha=alpha, depth=fusion_depth)

  first = dense_scores(runs.queries, runs.docs)
  if placement in ("before", "both"):
    first = fuse(first)
  queries = prf.vector_prf(jnp.asarray(runs.queries), jnp.asarray(runs.docs),
                           first, depth=settings.depth,
                           method=settings.method, alpha=settings.alpha,
                           beta=settings.beta)
  second = dense_scores(queries, runs.docs)
  if placement in ("after", "both"):
    second = fuse(second)
  return np.asarray(second)


def tokenizer_for(dataset: str) -> str:
  """BM25's tokenizer: code identifiers split for code search."""
  return ("code_identifiers" if dataset.startswith("stdlib_code_search")
          else "alnum_lower")


def ranker(encoder, placement: str, tokenizer: str, *,
           settings: PrfSettings = AVERAGE, alpha: float = DEFAULT_ALPHA,
           depth: int = 100) -> rankers.Ranker:
  """A ranker of texts: one placement over MiniLM and BM25."""
  def rank(rset):
    runs = encode(encoder, rset.queries, rset.docs, tokenizer)
    return rankers.top_indices(
        placement_scores(runs, placement, settings, alpha=alpha), depth)
  return rank


def _factory(placement: str):
  def ranker_for(dataset: str, workdir: str | None) -> rankers.Ranker:
    del workdir  # nothing is trained
    return ranker(minilm.load(), placement, tokenizer_for(dataset))
  ranker_for.__doc__ = (f"Vector PRF (Average, depth 3) with interpolation "
                        f"placed {placement}; alpha {DEFAULT_ALPHA}.")
  return ranker_for


class RankerVariants(dict):
  """Named `(dataset, workdir) -> ranker` factories; called itself, it is
  the "both" one (the registry's ranker contract)."""

  def __call__(self, dataset: str, workdir: str | None) -> rankers.Ranker:
    return self["prf_both"](dataset, workdir)


# `python -m eval retrieval --ranker prf_both` etc.
RANKERS = RankerVariants({f"prf_{p}": _factory(p) for p in PLACEMENTS})
