"""Launcher for the MaxSim kernel: masks, padding, tiling, backend params.

The launcher accepts any shapes the op accepts. It pads queries, query
tokens, documents, document tokens and the feature dimension to what the
kernel needs (powers of two, whole tiles), turns the masks into a doc-token
bias (0 or -inf) and query-token weights (1 or 0), and cuts the padding from
the results. Arrays that need no padding are passed through untouched, so a
large document collection is never copied.

Edge cases, shared with every other implementation of the op: a query with no
valid token scores 0; a document with no valid token scores -inf against a
query that has one. The kernel sees such a document with a zero bias (so no
row max is -inf and no 0 * inf appears) and the launcher writes its scores.
"""

import dataclasses

import jax
from jax import numpy as jnp

from pallas_kernels import common
from pallas_kernels.maxsim.kernel import BlockSizes, maxsim_call


def compiler_params(backend: str, block: BlockSizes, grid_rank: int):
  """Explicit compiler parameters for `backend` ("gpu", "tpu"; else None)."""
  return common.compiler_params(backend, block, ("parallel",) * grid_rank)


def maxsim_scores(q, d, q_mask=None, d_mask=None, *, diagonal: bool = False,
                  with_argmax: bool = False, block: BlockSizes | None = None,
                  backend: str | None = None, interpret: bool = False):
  """MaxSim scores with the Pallas kernel.

  Args:
    q: [B, Lq, D] queries, float32 or bfloat16.
    d: [N, Ld, D] documents, same dtype.
    q_mask: optional [B, Lq] bool, True = real token (None: all real).
    d_mask: optional [N, Ld] bool, True = real token (None: all real).
    diagonal: score query b against document b only (N == B).
    with_argmax: also return, per query token, the doc-token position of its
      max (the residual of the backward pass).
    block: tile sizes; `BlockSizes.default_for(...)` when None.
    backend: "gpu", "tpu" or "cpu" for tiling and compiler parameters;
      `jax.default_backend()` when None.
    interpret: run the kernel in Pallas interpret mode.

  Returns:
    scores: [B, N] float32 ([B] for diagonal).
    argmax (only with_argmax): [B, N, Lq] int32 ([B, Lq] for diagonal).
  """
  backend = backend or jax.default_backend()
  num_queries, query_len, dim = q.shape
  num_docs, doc_len, _ = d.shape
  if block is None:
    block = BlockSizes.default_for(
        num_queries=num_queries, query_len=query_len, num_docs=num_docs,
        doc_len=doc_len, backend=backend)
  if diagonal:
    queries = docs = 1
    lq_pad = max(16, common.next_pow2(query_len))
  else:
    lq_pad = max(8, common.next_pow2(query_len))
    queries, docs = max(block.queries, 16 // lq_pad), block.docs
  ld_pad = max(16, common.next_pow2(doc_len))
  d_pad = max(16, common.next_pow2(dim))
  b_pad = common.round_up(num_queries, queries)
  n_pad = common.round_up(num_docs, docs)

  q_rows = common.pad_to(q, (b_pad, lq_pad, d_pad)).reshape(
      b_pad * lq_pad, d_pad)
  weights = bias = doc_empty = None
  if q_mask is not None or lq_pad != query_len:
    weights = (jnp.ones((num_queries, query_len), jnp.float32)
               if q_mask is None else q_mask.astype(jnp.float32))
    weights = common.pad_to(weights, (b_pad, lq_pad)).reshape(-1, 1)
  if d_mask is not None or ld_pad != doc_len:
    bias = jnp.zeros((num_docs, doc_len), jnp.float32)
    if d_mask is not None:
      doc_empty = ~jnp.any(d_mask, axis=1)  # [N]
      bias = jnp.where(d_mask | doc_empty[:, None], bias, -jnp.inf)
    bias = common.pad_to(common.pad_to(bias, (num_docs, ld_pad), -jnp.inf),
                   (n_pad, ld_pad)).reshape(n_pad, 1, ld_pad)

  outs = maxsim_call(
      q_rows, weights, common.pad_to(d, (n_pad, ld_pad, d_pad)), bias,
      query_len=lq_pad,
      block=dataclasses.replace(block, queries=queries, docs=docs),
      diagonal=diagonal, with_argmax=with_argmax,
      docs_outer=backend == "tpu",
      precision=common.dot_precision(q),
      compiler_params=None if interpret else compiler_params(
          backend, block, 1 if diagonal else 2),
      interpret=interpret)

  if diagonal:
    scores = outs[0].reshape(b_pad)[:num_queries]
  else:
    scores = outs[0].transpose(1, 0, 2).reshape(b_pad, n_pad)
    scores = scores[:num_queries, :num_docs]
  if doc_empty is not None:
    query_any = (jnp.ones((num_queries,), jnp.bool_) if q_mask is None
                 else jnp.any(q_mask, axis=1))  # [B]
    if diagonal:
      empty_score = jnp.where(query_any, -jnp.inf, 0.0)
      scores = jnp.where(doc_empty, empty_score, scores)
    else:
      empty_score = jnp.where(query_any[:, None], -jnp.inf, 0.0)
      scores = jnp.where(doc_empty[None, :], empty_score, scores)
  if not with_argmax:
    return scores
  if diagonal:
    argmax = outs[1][:num_queries, :query_len, 0]
  else:
    argmax = outs[1].reshape(n_pad // docs, b_pad, lq_pad, docs)
    argmax = argmax.transpose(1, 0, 3, 2).reshape(b_pad, n_pad, lq_pad)
    argmax = argmax[:num_queries, :num_docs, :query_len]
  return scores, argmax
