"""Rankers: BM25, single- and multi-vector MiniLM, trained heads by MaxSim.

A ranker maps texts (anything with `queries` and `docs`, lists of strings)
to the indices of each query's top documents [num_queries, depth], best
first, ties to the lower document index. Multi-vector rankers L2-normalise
every token vector (CLS and SEP included, padding excluded), as ColBERT
does; an optional fixed random projection (N(0, 1/dim) entries,
re-normalised after projecting) gives the "same dimension" zero-shot
baseline for trained 128-d heads. `HeadEncoder` runs a trained retrieval
model (a ColBERT head, CRISP) over stored inputs in fixed-size chunks, and
`rank_tokens` scores its vectors.
"""

import dataclasses
import functools
from collections.abc import Callable, Sequence
from typing import Protocol

import flax.linen as nn
import jax
import numpy as np
from jax import numpy as jnp

import ops
from zoo.retrieval import bm25


class Texts(Protocol):
  """What a ranker reads: the queries and the candidate documents."""

  queries: Sequence[str]
  docs: Sequence[str]


Ranker = Callable[[Texts], np.ndarray]
# Documents per encoding or MaxSim chunk: each chunk has its own padding.
_DOC_CHUNK = 256
# Rows per model call (fixed, so each token length compiles once).
_ENCODE_ROWS = 64


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


def by_length(encode: Callable, ids: np.ndarray, mask: np.ndarray, *,
              rows: int, width_step: int) -> np.ndarray:
  """Float32 outputs [N, ...] of a jitted `encode(ids, mask)` over token rows
  ids, mask [N, L], in input order, `rows` texts a call.

  Texts go in order of length and each call is cut to its longest text,
  rounded up to `width_step` tokens (a few compiles): only for encoders
  whose outputs ignore the padding after a text's last token.
  """
  ids, mask = np.asarray(ids, np.int32), np.asarray(mask, bool)
  lengths = mask.sum(1)
  order = np.argsort(lengths, kind="stable")
  blank = jax.ShapeDtypeStruct((rows, width_step), jnp.int32)
  shape = jax.eval_shape(encode, blank, blank.update(dtype=jnp.bool_)).shape
  out = np.zeros((len(ids), *shape[1:]), np.float32)
  for start in range(0, len(order), rows):
    chunk = order[start:start + rows]
    width = min(-(-max(int(lengths[chunk].max()), 1) // width_step)
                * width_step, ids.shape[1])
    pad = ((0, rows - len(chunk)), (0, 0))
    out[chunk] = np.asarray(encode(
        jnp.asarray(np.pad(ids[chunk, :width], pad)),
        jnp.asarray(np.pad(mask[chunk, :width], pad))))[:len(chunk)]
  return out


@functools.partial(jax.jit, static_argnums=(0, 4))
def _encode(model, variables, inputs, mask, side: str):
  return model.apply(variables, inputs, mask, side, method="encode")


@dataclasses.dataclass(frozen=True, eq=False)
class HeadEncoder:
  """A retrieval model and its variables; the model's `encode(inputs, mask,
  side)` gives the vectors a text is scored with."""

  model: nn.Module
  variables: dict

  def encode_batch(self, inputs: jax.Array, mask: jax.Array, side: str
                   ) -> tuple[jax.Array, jax.Array]:
    """One jitted call on (possibly sharded) device arrays, no chunking."""
    return _encode(self.model, self.variables, inputs, mask, side)

  def encode(self, inputs: np.ndarray, mask: np.ndarray, side: str
             ) -> tuple[np.ndarray, np.ndarray]:
    """Model inputs [N, L, ...] (token states, or token ids when the encoder
    trains) and [N, L] mask -> ([N, K, out_dim] float32 vectors, [N, K]
    mask); K = L for ColBERT, clusters for CRISP."""
    inputs = np.asarray(inputs)
    if np.issubdtype(inputs.dtype, np.floating):
      inputs = inputs.astype(np.float32)
    pad = -len(inputs) % _ENCODE_ROWS
    inputs = np.pad(inputs, ((0, pad),) + ((0, 0),) * (inputs.ndim - 1))
    mask = np.pad(np.asarray(mask, bool), ((0, pad), (0, 0)))
    parts = [_encode(self.model, self.variables,
                     jnp.asarray(inputs[i:i + _ENCODE_ROWS]),
                     jnp.asarray(mask[i:i + _ENCODE_ROWS]), side)
             for i in range(0, len(inputs), _ENCODE_ROWS)]
    vectors, masks = (np.concatenate([np.asarray(p[j]) for p in parts])
                      for j in (0, 1))
    n = len(inputs) - pad
    return vectors[:n].astype(np.float32), masks[:n]


def rank_tokens(q: np.ndarray, q_mask: np.ndarray, d: np.ndarray,
                d_mask: np.ndarray, depth: int = 100) -> np.ndarray:
  """Top documents by MaxSim, trimming padding first.

  Args:
    q: [Q, Lq, D] unit query token vectors; q_mask: [Q, Lq] bool.
    d: [N, Ld, D] unit document token vectors; d_mask: [N, Ld] bool. Real
      tokens come first in every row.
    depth: documents kept per query.

  Returns:
    [Q, min(depth, N)] document indices, best first, ties to the lower index.
  """
  q_len = _width(q_mask).max(initial=1)
  q, q_mask = q[:, :q_len], q_mask[:, :q_len]
  lengths = _width(d_mask)
  order = np.argsort(lengths, kind="stable")
  chunks = []
  for start in range(0, len(order), _DOC_CHUNK):
    rows = order[start:start + _DOC_CHUNK]
    width = -(-max(1, int(lengths[rows].max())) // 8) * 8
    chunks.append((d[rows, :width], d_mask[rows, :width]))
  return top_indices(TokenVectors(chunks, order).scores(q, q_mask), depth)


def _width(mask: np.ndarray) -> np.ndarray:
  """Per row, one past the last True position (0 for an empty row)."""
  last = mask.shape[1] - np.argmax(mask[:, ::-1], axis=1)
  return np.where(mask.any(1), last, 0)
