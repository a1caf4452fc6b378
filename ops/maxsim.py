"""MaxSim: late-interaction (ColBERT-style) scores of queries against docs.

score(q_b, d_n) = sum over valid query tokens i of the max over valid document
tokens j of <q[b, i], d[n, j]>, with products in the input dtype and f32
accumulation. `pairs="all"` scores every query against every document
([B, N]); `pairs="diagonal"` scores query b against document b only ([B]),
as in-batch positives.

Every implementation agrees on the edge cases: a query with no valid token
scores 0 against every document; a document with no valid token scores -inf
against any query that has one (and 0 against an all-masked query); those
entries get zero gradient. Masked tokens take no part, whatever they hold:
NaN or inf in padding reaches neither the scores nor the gradients.

Gradients of the fast paths never touch the similarity tensor: the forward
pass saves, for every (query, document, query token), the position of the
document token that won the max, and the backward pass is a gather plus a
scatter-add of feature vectors.
"""

import functools
from typing import Literal

import jax
import numpy as np
from jax import numpy as jnp

from ops import _dispatch
from ops._sharding import shard_batch

Pairs = Literal["all", "diagonal"]
PAIRS = ("all", "diagonal")
# Similarity entries per chunk of the XLA forward pass.
_XLA_CHUNK_ELEMENTS = 1 << 27
# Gathered f32 feature entries per chunk of the backward pass.
_BWD_CHUNK_ELEMENTS = 1 << 25


def _validate(q, d, q_mask, d_mask, pairs):
  """Raises ValueError naming the first bad argument."""
  if pairs not in PAIRS:
    raise ValueError(f"maxsim: pairs must be one of {PAIRS}, got {pairs!r}")
  for name, a, want in (("q", q, "[B, Lq, D]"), ("d", d, "[N, Ld, D]")):
    if a.ndim != 3 or 0 in a.shape:
      raise ValueError(f"maxsim: {name} must be a non-empty {want} array, "
                       f"got shape {a.shape}")
    if a.dtype not in (jnp.float32, jnp.bfloat16):
      raise ValueError(f"maxsim: {name} must be float32 or bfloat16, got "
                       f"{a.dtype}")
  if q.dtype != d.dtype:
    raise ValueError(f"maxsim: q and d dtypes differ ({q.dtype} vs "
                     f"{d.dtype})")
  if q.shape[-1] != d.shape[-1]:
    raise ValueError(f"maxsim: q and d feature sizes differ: q {q.shape} vs "
                     f"d {d.shape}")
  if pairs == "diagonal" and d.shape[0] != q.shape[0]:
    raise ValueError("maxsim: pairs='diagonal' needs as many documents as "
                     f"queries, got q {q.shape} and d {d.shape}")
  for name, mask, like in (("q_mask", q_mask, q), ("d_mask", d_mask, d)):
    if mask is not None and (mask.shape != like.shape[:2]
                             or mask.dtype != jnp.bool_):
      raise ValueError(f"maxsim: {name} must be bool with shape "
                       f"{like.shape[:2]}, got {mask.dtype} {mask.shape}")


def _full_masks(q, d, q_mask, d_mask):
  """Replaces absent masks by all-True ones."""
  if q_mask is None:
    q_mask = jnp.ones(q.shape[:2], jnp.bool_)
  if d_mask is None:
    d_mask = jnp.ones(d.shape[:2], jnp.bool_)
  return q_mask, d_mask


def _precision(dtype):
  return jax.lax.Precision.HIGHEST if dtype == jnp.float32 else None


def _dense_scores(q, d, q_mask, d_mask, *, diagonal, with_argmax):
  """MaxSim over a whole block, materialising its similarity tensor.

  Args:
    q: [B, Lq, D]; d: [N, Ld, D] (N == B for diagonal).
    q_mask: [B, Lq] bool; d_mask: [N, Ld] bool.
    diagonal: pair query b with document b only.
    with_argmax: also return the argmax doc-token positions.

  Returns:
    scores [B, N] f32 ([B] for diagonal), and with_argmax the argmax
    [B, N, Lq] int32 ([B, Lq]).
  """
  spec = "bid,bjd->bij" if diagonal else "bid,njd->bnij"
  sim = jnp.einsum(spec, q, d, preferred_element_type=jnp.float32,
                   precision=_precision(q.dtype))
  if diagonal:
    sim = jnp.where(d_mask[:, None, :], sim, -jnp.inf)
    query_valid = q_mask
  else:
    sim = jnp.where(d_mask[None, :, None, :], sim, -jnp.inf)
    query_valid = q_mask[:, None, :]
  scores = jnp.sum(jnp.where(query_valid, jnp.max(sim, axis=-1), 0.0),
                   axis=-1)
  if with_argmax:
    return scores, jnp.argmax(sim, axis=-1).astype(jnp.int32)
  return scores


def _scores_xla(q, d, q_mask, d_mask, *, diagonal, with_argmax):
  """`_dense_scores` in chunks of documents (rows for diagonal)."""
  q_mask, d_mask = _full_masks(q, d, q_mask, d_mask)
  fn = functools.partial(_dense_scores, diagonal=diagonal,
                         with_argmax=with_argmax)
  per_item = q.shape[1] * d.shape[1] * (1 if diagonal else q.shape[0])
  chunk = max(1, _XLA_CHUNK_ELEMENTS // per_item)
  if chunk >= d.shape[0]:
    return fn(q, d, q_mask, d_mask)
  if diagonal:
    return jax.lax.map(
        lambda x: jax.tree.map(lambda o: o[0], fn(*(a[None] for a in x))),
        (q, d, q_mask, d_mask), batch_size=chunk)
  out = jax.lax.map(
      lambda x: jax.tree.map(lambda o: o[:, 0],
                             fn(q, x[0][None], q_mask, x[1][None])),
      (d, d_mask), batch_size=chunk)  # [N, B], [N, B, Lq]
  return jax.tree.map(lambda o: jnp.swapaxes(o, 0, 1), out)


def _scores_pallas(q, d, q_mask, d_mask, *, diagonal, with_argmax,
                   interpret):
  backend = jax.default_backend()
  if not interpret and backend not in ("gpu", "tpu"):
    raise NotImplementedError(
        f"the 'pallas' kernel runs on GPU or TPU, not {backend!r}; use "
        "'interpret' on CPU")
  # Imported here: pallas_kernels must not load at `import ops`.
  from pallas_kernels import maxsim as maxsim_kernels  # noqa: PLC0415

  return maxsim_kernels.maxsim_scores(
      q, d, q_mask, d_mask, diagonal=diagonal, with_argmax=with_argmax,
      backend=backend, interpret=interpret)


def _forward(q, d, q_mask, d_mask, diagonal, implementation, with_argmax):
  """Dispatches the forward pass, split over the mesh's batch axes."""
  in_axes = (0, 0, 0, 0) if diagonal else (None, 0, None, 0)
  out_axes = 0 if diagonal else 1

  def sharded(fn, **kwargs):
    fn = functools.partial(fn, diagonal=diagonal, with_argmax=with_argmax,
                           **kwargs)
    return lambda: shard_batch(fn, (q, d, q_mask, d_mask), in_axes, out_axes)

  impls = {
      "xla": sharded(_scores_xla),
      "pallas": sharded(_scores_pallas, interpret=False),
      "interpret": sharded(_scores_pallas, interpret=True),
  }
  return _dispatch.call("maxsim", impls, implementation)


def _backward_all(q, d, argmax, weight):
  """Gradients for pairs="all" from the saved argmax, chunked over docs.

  Args:
    q: [B, Lq, D]; d: [N, Ld, D]; argmax: [B, N, Lq] int32.
    weight: [B, N, Lq] f32, the score cotangent on valid entries, else 0.

  Returns:
    (dq [B, Lq, D], dd [N, Ld, D]), both f32.
  """
  num_queries, query_len, dim = q.shape
  num_docs, doc_len, _ = d.shape
  q32 = q.astype(jnp.float32)

  def one_chunk(dq, xs):
    d_c, at, w = xs  # [C, Ld, D], [B, C, Lq], [B, C, Lq]
    doc = jnp.arange(d_c.shape[0])[None, :, None]
    picked = d_c[doc, at].astype(jnp.float32)  # [B, C, Lq, D]
    dq = dq + jnp.sum(w[..., None] * picked, axis=1)
    dd = jnp.zeros(d_c.shape, jnp.float32).at[doc, at].add(
        w[..., None] * q32[:, None])
    return dq, dd

  dq0 = jnp.zeros(q.shape, jnp.float32)
  chunk = max(1, _BWD_CHUNK_ELEMENTS // (num_queries * query_len * dim))
  if chunk >= num_docs:
    return one_chunk(dq0, (d, argmax, weight))
  pad = -num_docs % chunk
  steps = (num_docs + pad) // chunk

  def split_docs(a, axis):
    widths = [(0, 0)] * a.ndim
    widths[axis] = (0, pad)
    a = jnp.pad(a, widths)
    a = a.reshape(a.shape[:axis] + (steps, chunk) + a.shape[axis + 1:])
    return jnp.moveaxis(a, axis, 0)

  dq, dd = jax.lax.scan(
      one_chunk, dq0,
      (split_docs(d, 0), split_docs(argmax, 1), split_docs(weight, 1)))
  return dq, dd.reshape(-1, doc_len, dim)[:num_docs]


def _backward_diagonal(q, d, argmax, weight):
  """Gradients for pairs="diagonal": argmax, weight [B, Lq]."""
  row = jnp.arange(q.shape[0])[:, None]
  picked = d[row, argmax].astype(jnp.float32)  # [B, Lq, D]
  dq = weight[..., None] * picked
  dd = jnp.zeros(d.shape, jnp.float32).at[row, argmax].add(
      weight[..., None] * q.astype(jnp.float32))
  return dq, dd


@functools.partial(jax.custom_vjp, nondiff_argnums=(4, 5))
def _maxsim_core(q, d, q_mask, d_mask, diagonal, implementation):
  return _forward(q, d, q_mask, d_mask, diagonal, implementation,
                  with_argmax=False)


def _maxsim_fwd(q, d, q_mask, d_mask, diagonal, implementation):
  scores, argmax = _forward(q, d, q_mask, d_mask, diagonal, implementation,
                            with_argmax=True)
  return scores, (q, d, q_mask, d_mask, argmax)


def _maxsim_bwd(diagonal, implementation, residuals, g):
  del implementation
  q, d, q_mask, d_mask, argmax = residuals
  mask_cotangents = tuple(
      None if m is None else np.zeros(m.shape, jax.dtypes.float0)
      for m in (q_mask, d_mask))
  # Masked tokens meet only zero weights (an empty document's argmax points
  # at one); zero the non-finite ones so that 0 * NaN stays out of the
  # gradients (finite ones give 0 as they are).
  if q_mask is not None:
    q = jnp.where(q_mask[..., None] | jnp.isfinite(q), q, 0)
  if d_mask is not None:
    d = jnp.where(d_mask[..., None] | jnp.isfinite(d), d, 0)
  q_mask, d_mask = _full_masks(q, d, q_mask, d_mask)
  doc_valid = jnp.any(d_mask, axis=1)  # [N]
  if diagonal:
    valid = q_mask & doc_valid[:, None]
    dq, dd = _backward_diagonal(
        q, d, argmax, jnp.where(valid, g[:, None], 0.0))
  else:
    valid = q_mask[:, None, :] & doc_valid[None, :, None]
    dq, dd = _backward_all(
        q, d, argmax, jnp.where(valid, g[..., None], 0.0))
  return (dq.astype(q.dtype), dd.astype(d.dtype), *mask_cotangents)


_maxsim_core.defvjp(_maxsim_fwd, _maxsim_bwd)


def maxsim(
    q: jax.Array,
    d: jax.Array,
    *,
    q_mask: jax.Array | None = None,
    d_mask: jax.Array | None = None,
    pairs: Pairs = "all",
    implementation: str | None = None,
) -> jax.Array:
  """Late-interaction scores, without the [B, N, Lq, Ld] similarity tensor.

  Args:
    q: [B, Lq, D] query token embeddings, float32 or bfloat16.
    d: [N, Ld, D] document token embeddings, same dtype.
    q_mask: optional bool [B, Lq]; True marks a real query token.
    d_mask: optional bool [N, Ld]; True marks a real document token.
    pairs: "all" scores every query against every document; "diagonal"
      (N == B) scores query b against document b only.
    implementation: "xla", "pallas", "interpret" or None (per backend;
      ZOO_IMPL overrides).

  Returns:
    float32 scores, [B, N] for "all" or [B] for "diagonal"; differentiable
    with respect to q and d.
  """
  _validate(q, d, q_mask, d_mask, pairs)
  return _maxsim_core(q, d, q_mask, d_mask, pairs == "diagonal",
                      implementation)


def maxsim_reference(q, d, *, q_mask=None, d_mask=None, pairs="all"):
  """Ground truth for `maxsim`: the whole similarity tensor, plain autodiff.

  Same arguments and result as `maxsim`; materialises [B, N, Lq, Ld] (or
  [B, Lq, Ld]), so use it for tests and small inputs only.
  """
  _validate(q, d, q_mask, d_mask, pairs)
  q_mask, d_mask = _full_masks(q, d, q_mask, d_mask)
  # Autodiff multiplies masked tokens by zero: keep NaN out of that.
  q = jnp.where(q_mask[..., None] | jnp.isfinite(q), q, 0)
  d = jnp.where(d_mask[..., None] | jnp.isfinite(d), d, 0)
  return _dense_scores(q, d, q_mask, d_mask, diagonal=pairs == "diagonal",
                       with_argmax=False)
