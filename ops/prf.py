"""Vector pseudo-relevance feedback and dense-sparse score interpolation.

Li et al., "To Interpolate or not to Interpolate: PRF, Dense and Sparse
Retrievers" (SIGIR 2022), as pyserini runs them:

  - `vector_prf`: the top `depth` documents of a first run become feedback.
    Average (pyserini `--prf-method avg`, depth 3):
    e_q' = mean(e_q, e_d1, ..., e_dk). Rocchio (`--prf-method rocchio`,
    depth 5, alpha 0.4, beta 0.6): e_q' = alpha e_q + beta mean(e_d1..e_dk).
    One jitted top_k, gather and mean.
  - `interpolate`: pyserini's hybrid searcher on score matrices. The union
    of each run's top `depth` documents is kept; a document missing from one
    run gets that run's lowest kept score; optionally each run is rescaled
    to (s - (min + max) / 2) / (max - min); fused = alpha s_sparse + s_dense.
    Documents outside the union score -inf.

Both take every query at once ([Q, ...]); scores are dense [Q, N] matrices,
which is what a brute-force toy index gives.
"""

import functools
import math

import jax
from jax import numpy as jnp

METHODS = ("average", "rocchio")


def _check_finite(name: str, value) -> None:
  if not isinstance(value, int | float) or not math.isfinite(value):
    raise ValueError(f"{name} must be a finite number, got {value!r}")


def _check_matrix(op: str, name: str, x, ndim: int = 2) -> None:
  if x.ndim != ndim or 0 in x.shape:
    raise ValueError(f"{op}: {name} must be a non-empty {ndim}-d array, got "
                     f"shape {x.shape}")
  if not jnp.issubdtype(x.dtype, jnp.floating):
    raise ValueError(f"{op}: {name} must be floating point, got {x.dtype}")


def vector_prf_reference(queries: jax.Array, docs: jax.Array,
                         first_scores: jax.Array, *, depth: int,
                         method: str = "average", alpha: float = 0.4,
                         beta: float = 0.6) -> jax.Array:
  """`vector_prf` in plain jnp (no validation)."""
  _, top = jax.lax.top_k(first_scores, depth)  # [Q, k], ties to lower index
  feedback = docs[top].astype(jnp.float32)  # [Q, k, D]
  q = queries.astype(jnp.float32)
  if method == "average":
    # (e_q + sum) / (k + 1): with k = 0 this is e_q bit for bit.
    return (q + feedback.sum(1)) / (depth + 1)
  mean = feedback.sum(1) / max(depth, 1)  # ours: no feedback -> 0
  return alpha * q + beta * mean


@functools.partial(jax.jit, static_argnames=("depth", "method"))
def _vector_prf(queries, docs, first_scores, alpha, beta, *, depth, method):
  return vector_prf_reference(queries, docs, first_scores, depth=depth,
                              method=method, alpha=alpha, beta=beta)


def vector_prf(queries: jax.Array, docs: jax.Array, first_scores: jax.Array,
               *, depth: int, method: str = "average", alpha: float = 0.4,
               beta: float = 0.6) -> jax.Array:
  """New query vectors from the top documents of a first run.

  Args:
    queries: [Q, D] query vectors.
    docs: [N, D] document vectors.
    first_scores: [Q, N] scores of the first run; its top `depth` documents
      per query (ties to the lower index) are the feedback.
    depth: feedback documents k, 0 <= k <= N (pyserini: 3 for average, 5
      for Rocchio).
    method: "average" (mean of the query and the k documents) or "rocchio"
      (alpha query + beta mean of the documents; 0 when k = 0).
    alpha, beta: Rocchio weights (ignored by "average").

  Returns:
    [Q, D] float32 query vectors for the second search.

  Raises:
    ValueError: a misshaped array, an unknown method, a depth outside
      [0, N], or a non-finite alpha or beta.
  """
  for name, x in (("queries", queries), ("docs", docs),
                  ("first_scores", first_scores)):
    _check_matrix("vector_prf", name, x)
  if method not in METHODS:
    raise ValueError(f"vector_prf: method must be one of {METHODS}, got "
                     f"{method!r}")
  if queries.shape[1] != docs.shape[1]:
    raise ValueError(f"vector_prf: queries {queries.shape} and docs "
                     f"{docs.shape} differ in dimension")
  if first_scores.shape != (queries.shape[0], docs.shape[0]):
    raise ValueError("vector_prf: first_scores must be [Q, N] = "
                     f"{(queries.shape[0], docs.shape[0])}, got "
                     f"{first_scores.shape}")
  if not isinstance(depth, int) or not 0 <= depth <= docs.shape[0]:
    raise ValueError(f"vector_prf: depth (PRF depth) must be an int in [0, "
                     f"{docs.shape[0]}] (the documents retrieved), got "
                     f"{depth!r}")
  _check_finite("vector_prf: alpha", alpha)
  _check_finite("vector_prf: beta", beta)
  return _vector_prf(queries, docs, first_scores, jnp.float32(alpha),
                     jnp.float32(beta), depth=depth, method=method)


def _run_top(scores: jax.Array, depth: int):
  """One run's top `depth` per query: (kept [Q, N] bool, min, max [Q, 1])."""
  values, top = jax.lax.top_k(scores, depth)  # [Q, k]
  rows = jnp.arange(scores.shape[0])[:, None]
  kept = jnp.zeros(scores.shape, bool).at[rows, top].set(True)
  return kept, values[:, -1:], values[:, :1]


def interpolate_reference(sparse: jax.Array, dense: jax.Array, *,
                          alpha: float, depth: int, normalize: bool = True
                          ) -> jax.Array:
  """`interpolate` in plain jnp (no validation)."""
  sparse, dense = sparse.astype(jnp.float32), dense.astype(jnp.float32)
  fused = []
  for scores in (sparse, dense):
    kept, low, high = _run_top(scores, depth)
    imputed = jnp.where(kept, scores, low)
    if normalize:
      # ours: a constant run maps to 0 (pyserini would divide by zero).
      span = high - low
      imputed = jnp.where(span > 0, (imputed - (low + high) / 2) / jnp.where(
          span > 0, span, 1.0), 0.0)
    fused.append((kept, imputed))
  (kept_s, s), (kept_d, d) = fused
  return jnp.where(kept_s | kept_d, alpha * s + d, -jnp.inf)


@functools.partial(jax.jit, static_argnames=("depth", "normalize"))
def _interpolate(sparse, dense, alpha, *, depth, normalize):
  return interpolate_reference(sparse, dense, alpha=alpha, depth=depth,
                               normalize=normalize)


def interpolate(sparse: jax.Array, dense: jax.Array, *, alpha: float,
                depth: int, normalize: bool = True) -> jax.Array:
  """Fuses a sparse and a dense run as pyserini's hybrid searcher does.

  Args:
    sparse: [Q, N] sparse scores (BM25) of every document.
    dense: [Q, N] dense scores of the same documents.
    alpha: weight of the sparse run (fused = alpha s_sparse + s_dense);
      alpha = 0 gives the dense order on the dense run's documents.
    depth: documents k0 each run contributes, 1 <= k0 <= N.
    normalize: rescale each run to (s - (min + max) / 2) / (max - min) over
      its kept documents, missing ones imputed first.

  Returns:
    [Q, N] float32 fused scores; -inf outside the union of the two runs'
    top k0.

  Raises:
    ValueError: misshaped runs, depth outside [1, N], non-finite alpha.
  """
  _check_matrix("interpolate", "sparse", sparse)
  _check_matrix("interpolate", "dense", dense)
  if sparse.shape != dense.shape:
    raise ValueError(f"interpolate: sparse {sparse.shape} and dense "
                     f"{dense.shape} must score the same [Q, N] documents")
  if not isinstance(depth, int) or not 1 <= depth <= sparse.shape[1]:
    raise ValueError(f"interpolate: depth must be an int in [1, "
                     f"{sparse.shape[1]}], got {depth!r}")
  _check_finite("interpolate: alpha", alpha)
  return _interpolate(sparse, dense, jnp.float32(alpha), depth=depth,
                      normalize=bool(normalize))
