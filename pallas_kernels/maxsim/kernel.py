"""The MaxSim Pallas kernel: a GEMM with a max-then-segment-sum epilogue.

One program owns a block of `queries` queries, stacked as R = queries *
query_len rows of a [R, D] tile that stays resident, and a block of `docs`
documents that it streams one at a time. For each document it computes the
[R, doc_tokens] similarity tile with one 2-D dot per `doc_tokens` columns,
applies the document's token bias (0 keeps a similarity, -inf replaces it,
NaN included; skipped when nothing is masked or padded), and keeps the row
max (and, in the training variant, its column) in a [R, docs] loop carry.
After the last document the carry is masked by the query-token weights (1
or 0; likewise optional) and summed over each query's rows, giving a
[queries, docs] tile of scores. The grid is (query blocks, document
blocks); each document tile is read from memory once per query block.

The body keeps to what the Triton lowering accepts (every array a power of
two in size, 2-D dots with M, N, K >= 16, reorder-free reshapes, no scratch
buffers) and to Mosaic's tiling rules, so the same `pl.pallas_call` serves
GPU, TPU and CPU interpret mode.
"""

import dataclasses
import functools

import jax
from jax import lax
from jax import numpy as jnp
from jax.experimental import pallas as pl

from pallas_kernels.common import next_pow2


@dataclasses.dataclass(frozen=True)
class BlockSizes:
  """Tiling of one MaxSim launch.

  Attributes:
    queries: queries per program (a power of two); with `pairs="diagonal"`
      each program takes one query and its document regardless.
    docs: documents per program (a power of two), streamed in a loop.
    doc_tokens: document-token columns per dot (a power of two >= 16).
    num_warps: Triton warps per program (GPU only).
    num_stages: Triton software-pipeline depth (GPU only).
  """

  queries: int
  docs: int
  doc_tokens: int
  num_warps: int = 4
  num_stages: int = 2

  def __post_init__(self):
    for name in ("queries", "docs", "doc_tokens"):
      value = getattr(self, name)
      if value < 1 or value != next_pow2(value):
        raise ValueError(f"BlockSizes.{name} must be a power of two, got "
                         f"{value}")
    if self.doc_tokens < 16:
      raise ValueError("BlockSizes.doc_tokens must be >= 16, got "
                       f"{self.doc_tokens}")

  @classmethod
  def default_for(cls, *, num_queries: int, query_len: int, num_docs: int,
                  doc_len: int, backend: str) -> "BlockSizes":
    """Tiles for a problem of the given (unpadded) sizes on `backend`.

    GPU: about 128 query rows per program (the M of one tensor-core tile),
    a 128-column doc tile, and enough documents per program to amortise the
    resident query tile while still filling the machine. TPU: 8 queries per
    program (Mosaic's sublane tiling of the [queries, docs] output) and whole
    documents per dot. Elsewhere (interpret mode): small tiles.
    """
    lq = next_pow2(query_len)
    ld = max(16, next_pow2(doc_len))
    if backend == "tpu":
      return cls(queries=8, docs=min(16, next_pow2(num_docs)), doc_tokens=ld)
    if backend != "gpu":
      return cls(queries=max(1, min(next_pow2(num_queries), 16 // lq)),
                 docs=min(8, next_pow2(num_docs)), doc_tokens=min(ld, 128))
    queries = max(1, min(next_pow2(num_queries), 128 // lq))
    query_blocks = -(-num_queries // queries)
    # At least ~4 programs per SM (132 on an H100), then up to 32 docs each.
    docs = 32
    while docs > 1 and query_blocks * -(-num_docs // docs) < 512:
      docs //= 2
    while docs > 8 and num_docs % docs:
      docs //= 2
    return cls(queries=queries, docs=docs, doc_tokens=min(ld, 128),
               num_warps=4, num_stages=3)


def _maxsim_kernel(*refs, queries, doc_tokens, precision, with_argmax,
                   has_weights, has_bias):
  """Scores one block of queries against one block of documents.

  Args:
    *refs: in order
      q_ref: [R, D] query rows, R = queries * query_len;
      w_ref (has_weights): [R, 1] f32 query-token weights (1 real, 0 masked
        or padding);
      d_ref: [docs, Ld, D] documents;
      bias_ref (has_bias): [docs, 1, Ld] f32 doc-token bias (0 real, -inf
        masked or padding);
      scores_ref: [queries, docs] f32 output;
      argmax_ref (with_argmax): [R, docs] int32 output, the doc-token
        position of each row's max.
    queries, doc_tokens, precision, with_argmax, has_weights, has_bias:
      static configuration.
  """
  refs = list(refs)
  q_ref = refs.pop(0)
  w_ref = refs.pop(0) if has_weights else None
  d_ref = refs.pop(0)
  bias_ref = refs.pop(0) if has_bias else None
  scores_ref, argmax_ref = refs if with_argmax else (refs[0], None)
  rows = q_ref.shape[0]
  docs, doc_len, _ = d_ref.shape
  q = q_ref[...]
  column = lax.broadcasted_iota(jnp.int32, (rows, docs), 1)

  def one_doc(j, carry):
    best = best_at = None
    for start in range(0, doc_len, doc_tokens):
      tokens = pl.ds(start, doc_tokens)
      sim = lax.dot_general(
          q, d_ref[j, tokens, :], (((1,), (1,)), ((), ())),
          precision=precision, preferred_element_type=jnp.float32)
      if has_bias:
        bias = bias_ref[j, :, tokens]  # [1, doc_tokens]
        # A select, not sim + bias: a masked token is -inf whatever it
        # holds (NaN + -inf is NaN).
        sim = jnp.where(bias == 0, sim, -jnp.inf)  # [R, doc_tokens]
      tile_best = jnp.max(sim, axis=1, keepdims=True)  # [R, 1]
      # int32 under jax_enable_x64 too: the carry and the output are int32.
      tile_at = (lax.argmax(sim, 1, jnp.int32)[:, None] + start
                 if with_argmax else None)
      if best is None:
        best, best_at = tile_best, tile_at
      else:
        if with_argmax:
          best_at = jnp.where(tile_best > best, tile_at, best_at)
        best = jnp.maximum(best, tile_best)
    here = column == j
    maxes = jnp.where(here, best, carry[0])
    if with_argmax:
      return maxes, jnp.where(here, best_at, carry[1])
    return (maxes,)

  carry = (jnp.zeros((rows, docs), jnp.float32),)
  if with_argmax:
    carry += (jnp.zeros((rows, docs), jnp.int32),)
  carry = lax.fori_loop(0, docs, one_doc, carry)
  # Masked query rows add 0, not 0 * (a NaN or inf max).
  maxes = (jnp.where(w_ref[...] > 0, carry[0], 0.0) if has_weights
           else carry[0])
  scores_ref[...] = jnp.sum(maxes.reshape(queries, rows // queries, docs),
                            axis=1)
  if with_argmax:
    argmax_ref[...] = carry[1]


def maxsim_call(q, w, d, bias, *, query_len: int, block: BlockSizes,
                diagonal: bool, with_argmax: bool, docs_outer: bool,
                precision, compiler_params, interpret: bool):
  """Runs the kernel on padded, tiled inputs.

  Args:
    q: [Bp * Lq, D] query rows (Lq = query_len; Bp a multiple of
      block.queries; Lq, D powers of two).
    w: [Bp * Lq, 1] f32 query-token weights, or None when every row counts.
    d: [Np, Ld, D] documents (Np a multiple of block.docs; Ld a multiple of
      block.doc_tokens).
    bias: [Np, 1, Ld] f32 doc-token bias, or None when every token counts.
    query_len: padded tokens per query.
    block: tile sizes.
    diagonal: score query b against document b only (Bp == Np); each program
      then takes one query and one document.
    with_argmax: also return the argmax doc-token positions.
    docs_outer: make documents the outer grid axis (TPU keeps the document
      block resident while queries change); otherwise queries vary fastest,
      so the programs sharing a document block run together (GPU L2 reuse).
    precision: `lax.dot_general` precision of the similarity dots.
    compiler_params: backend compiler parameters, or None in interpret mode.
    interpret: run in Pallas interpret mode.

  Returns:
    scores [Np / docs, Bp, docs] f32 and, with_argmax, argmax
    [Np / docs, Bp * Lq, docs] int32; for diagonal, [Bp, 1, 1] and
    [Bp, Lq, 1].
  """
  total_rows, dim = q.shape
  num_queries = total_rows // query_len
  num_docs, doc_len, _ = d.shape
  queries, docs = (1, 1) if diagonal else (block.queries, block.docs)
  rows = queries * query_len
  if diagonal:
    grid = (num_docs,)
    query_block = doc_block = lambda i: i
    score_rows, out_block = 1, lambda i: (i, 0, 0)
  else:
    blocks = (num_queries // queries, num_docs // docs)
    grid = blocks[::-1] if docs_outer else blocks
    query_block = (lambda a, b: b) if docs_outer else (lambda a, b: a)
    doc_block = (lambda a, b: a) if docs_outer else (lambda a, b: b)
    score_rows = num_queries
    out_block = lambda *i: (doc_block(*i), query_block(*i), 0)

  specs = (
      (q, pl.BlockSpec((rows, dim), lambda *i: (query_block(*i), 0))),
      (w, pl.BlockSpec((rows, 1), lambda *i: (query_block(*i), 0))),
      (d, pl.BlockSpec((docs, doc_len, dim),
                       lambda *i: (doc_block(*i), 0, 0))),
      (bias, pl.BlockSpec((docs, 1, doc_len),
                          lambda *i: (doc_block(*i), 0, 0))),
  )
  inputs = [x for x, _ in specs if x is not None]
  in_specs = [spec for x, spec in specs if x is not None]
  out_shape = [jax.ShapeDtypeStruct((num_docs // docs, score_rows, docs),
                                    jnp.float32)]
  out_specs = [pl.BlockSpec((None, queries, docs), out_block)]
  if with_argmax:
    out_shape.append(jax.ShapeDtypeStruct(
        (num_docs // docs, rows * score_rows // queries, docs), jnp.int32))
    out_specs.append(pl.BlockSpec((None, rows, docs), out_block))
  kernel = functools.partial(
      _maxsim_kernel, queries=queries,
      doc_tokens=min(block.doc_tokens, doc_len), precision=precision,
      with_argmax=with_argmax, has_weights=w is not None,
      has_bias=bias is not None)
  return pl.pallas_call(
      kernel, out_shape=tuple(out_shape), grid=grid, in_specs=in_specs,
      out_specs=tuple(out_specs), compiler_params=compiler_params,
      interpret=interpret, name="maxsim")(*inputs)
