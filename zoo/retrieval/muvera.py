"""MUVERA: fixed-dimensional-encoding candidates, MaxSim rerank.

Queries and documents are MiniLM token vectors (L2-normalised). Each is
turned into one FDE vector (`ops.fde`), candidates are the top documents by
FDE inner product, and only those are rescored by exact MaxSim. Documents
beyond the candidates keep their FDE order after them.
"""

import dataclasses

import jax
import numpy as np
from jax import numpy as jnp

import ops
from zoo import registry
from zoo.retrieval import minilm, rankers

SYSTEM = registry.System(
    name="muvera",
    family="retrieval",
    paper="MUVERA: Multi-Vector Retrieval via Fixed Dimensional Encodings",
    summary="One fixed-dimensional vector per multi-vector text (ops.fde) "
            "gives candidates; exact MaxSim reranks them.",
    claim="eval.claims.muvera:check",
    ranker="zoo.retrieval.muvera:ranker_for",
    datasets=("train.data.builders.stdlib_code_search_minilm:"
              "StdlibCodeSearchMinilm",),
)

# The paper's 10240-d point is (R, k_sim, d_proj) = (20, 5, 16); at these toy
# pool sizes a 5120-d encoding is enough.
DEFAULT_FDE = ops.FDEConfig(dimension=384, num_repetitions=20,
                            num_simhash_projections=4, seed=1,
                            projection="ams_sketch", projection_dimension=16)


@dataclasses.dataclass(frozen=True)
class MuveraResult:
  """Rankings and how much of exhaustive MaxSim the candidates hold."""

  top: np.ndarray  # [Q, depth] document indices, best first
  candidates: np.ndarray  # [Q, C] FDE candidates


def _fde(tokens, mask, cfg, queries: bool) -> np.ndarray:
  fn = ops.fde_queries if queries else ops.fde_documents
  return np.asarray(fn(jnp.asarray(tokens), jnp.asarray(mask), cfg))


def search(q, q_mask, d, d_mask, *, cfg=DEFAULT_FDE, num_candidates=100,
           depth=100, chunk=16) -> MuveraResult:
  """FDE candidates then MaxSim rerank.

  Args:
    q: [Q, Lq, D] normalised query token vectors; q_mask [Q, Lq].
    d: [N, Ld, D] normalised document token vectors; d_mask [N, Ld].
    cfg: the FDE config (the same for queries and documents).
    num_candidates: documents rescored by MaxSim per query.
    depth: length of the returned rankings.
    chunk: documents encoded per FDE call, and queries reranked per call.

  Returns:
    The rankings and the candidate lists.
  """
  d_fde = np.concatenate([_fde(d[i:i + chunk], d_mask[i:i + chunk], cfg,
                               queries=False)
                          for i in range(0, len(d), chunk)])
  q_fde = _fde(q, q_mask, cfg, queries=True)
  by_fde = rankers.top_indices(q_fde @ d_fde.T, d.shape[0])
  cand = by_fde[:, :min(num_candidates, d.shape[0])]
  rerank = jax.jit(jax.vmap(lambda qi, mi, di, dmi: ops.maxsim(
      qi[None], di, q_mask=mi[None], d_mask=dmi)[0]))
  # A few queries at a time: their gathered candidates are [C, Ld, D] each.
  exact = np.concatenate([
      np.asarray(rerank(q[i:i + chunk], q_mask[i:i + chunk],
                        d[cand[i:i + chunk]], d_mask[cand[i:i + chunk]]))
      for i in range(0, len(q), chunk)])
  reranked = np.take_along_axis(cand, np.argsort(-exact, axis=1,
                                                 kind="stable"), axis=1)
  top = np.concatenate([reranked, by_fde[:, cand.shape[1]:]], axis=1)
  return MuveraResult(top[:, :depth], cand)


def padded_tokens(encoder, texts) -> tuple[np.ndarray, np.ndarray]:
  """Normalised token vectors [N, L, D] and masks, one common padding."""
  tokens, mask = encoder.encode_tokens(texts)
  return rankers.project_tokens(tokens), mask


def ranker(encoder, *, cfg=DEFAULT_FDE, num_candidates=100, depth=100
           ) -> rankers.Ranker:
  """MUVERA over an encoder's token vectors (MiniLM's `encode_tokens`)."""
  def rank(rset):
    q, q_mask = padded_tokens(encoder, rset.queries)
    d, d_mask = padded_tokens(encoder, rset.docs)
    return search(q, q_mask, d, d_mask, cfg=cfg,
                  num_candidates=num_candidates, depth=depth).top
  return rank


def ranker_for(dataset: str, workdir: str | None) -> rankers.Ranker:
  """`python -m eval retrieval --ranker muvera`: zero-shot MiniLM tokens."""
  del dataset, workdir  # the same encoder and FDE everywhere
  return ranker(minilm.load())
