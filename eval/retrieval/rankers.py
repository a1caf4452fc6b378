"""Rankers: BM25, single-vector and multi-vector (MaxSim) MiniLM, MUVERA.

A ranker maps a `RetrievalSet` to the indices of each query's top documents
[num_queries, depth], best first, ties to the lower document index.
Multi-vector rankers L2-normalise every token vector (CLS and SEP included,
padding excluded), as ColBERT does; an optional fixed random projection
(N(0, 1/dim) entries, re-normalised after projecting) gives the
"same dimension" zero-shot baseline for trained 128-d heads.
"""

import dataclasses
from collections.abc import Callable, Sequence

import jax
import numpy as np
from jax import numpy as jnp

import ops
from eval.retrieval import bm25
from eval.retrieval.data import RetrievalSet

Ranker = Callable[[RetrievalSet], np.ndarray]
# Documents per encoding chunk: each chunk is padded to its own longest text.
_DOC_CHUNK = 256


def top_indices(scores: np.ndarray, depth: int) -> np.ndarray:
  """[Q, N] scores -> [Q, depth] indices, higher first, ties to lower index."""
  depth = min(depth, scores.shape[1])
  order = np.argsort(-scores, axis=1, kind="stable")
  return order[:, :depth]


def bm25_ranker(tokenizer: str, depth: int = 100) -> Ranker:
  return lambda rset: bm25.rank(rset.queries, rset.docs, tokenizer=tokenizer,
                                depth=depth)


def single_vector(encoder, depth: int = 100) -> Ranker:
  """Mean-pooled, normalised sentence embeddings; cosine similarity."""
  def rank(rset):
    q = encoder.encode_sentences(rset.queries)
    d = encoder.encode_sentences(rset.docs)
    return top_indices(q @ d.T, depth)
  return rank


@dataclasses.dataclass(frozen=True)
class TokenVectors:
  """Multi-vector encodings in length-sorted chunks (each its own padding)."""

  chunks: list[tuple[np.ndarray, np.ndarray]]  # ([n, L, D], [n, L] bool)
  order: np.ndarray  # position of each chunk row in the original list

  def scores(self, q: np.ndarray, q_mask: np.ndarray) -> np.ndarray:
    """MaxSim of queries [Q, Lq, D] against every document -> [Q, N]."""
    parts = [np.asarray(ops.maxsim(jnp.asarray(q), jnp.asarray(d),
                                   q_mask=jnp.asarray(q_mask),
                                   d_mask=jnp.asarray(m)))
             for d, m in self.chunks]
    out = np.empty((q.shape[0], len(self.order)), np.float32)
    out[:, self.order] = np.concatenate(parts, axis=1)
    return out


def _normalize(x: np.ndarray) -> np.ndarray:
  norm = np.linalg.norm(x, axis=-1, keepdims=True)
  return x / np.maximum(norm, 1e-12)


def token_vectors(encoder, texts: Sequence[str], project=None,
                  chunk: int = _DOC_CHUNK) -> TokenVectors:
  """Encodes texts in chunks of similar length; vectors normalised."""
  order = np.argsort([len(t) for t in texts], kind="stable")
  chunks = []
  for start in range(0, len(texts), chunk):
    rows = order[start:start + chunk]
    tokens, mask = encoder.encode_tokens([texts[i] for i in rows])
    chunks.append((project_tokens(tokens, project), mask))
  return TokenVectors(chunks, order)


def project_tokens(tokens: np.ndarray, project=None) -> np.ndarray:
  """Applies `project` (a function or None) and L2-normalises each vector."""
  tokens = np.asarray(tokens, np.float32)
  if project is not None:
    tokens = np.asarray(project(tokens), np.float32)
  return _normalize(tokens)


def random_projection(dim_in: int, dim_out: int, seed: int):
  """A fixed random map [dim_in -> dim_out] with N(0, 1/dim_out) entries."""
  w = np.asarray(jax.random.normal(jax.random.key(seed), (dim_in, dim_out)))
  w = w / np.sqrt(dim_out)
  return lambda x: x @ w


def maxsim_ranker(encoder, *, dim: int | None = None, seed: int = 0,
                  depth: int = 100) -> Ranker:
  """Zero-shot multi-vector MiniLM: token states (optionally projected)."""
  project = None if dim is None else random_projection(
      encoder.config.hidden, dim, seed)

  def rank(rset):
    docs = token_vectors(encoder, rset.docs, project)
    q, q_mask = encoder.encode_tokens(rset.queries)
    return top_indices(docs.scores(project_tokens(q, project), q_mask),
                       depth)
  return rank
