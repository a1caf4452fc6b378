"""Kernel bodies for nearest-codeword search (top-k of x . c + bias).

Two bodies share the running top-k of `topk.py`:

- `loop_kernel` (GPU, Triton lowering): one program per (row block, group,
  code split). The row block of x stays resident; a `fori_loop` walks the
  split's codes in tiles, scores are [rows, codes] and the running best is
  carried in registers (for k = 1 an elementwise max reduced once at the
  end). Only [rows, k] leaves the program.
- `grid_kernel` (TPU, Mosaic): codes are the last, "arbitrary" grid axis.
  Scores are [codes, rows] so the reduction runs over sublanes and the
  output block [k, rows] is lane-dense; the running list lives in the
  output block, which stays in VMEM across the code axis.

Both run unchanged in interpret mode. A NaN score (or -inf for an enabled
code) counts as NAN_RANK: it never beats a real score and never loses to a
disabled code. Tiles merged into a top-k list are `ranked` first, so that
no NaN reaches their max/argmax reductions. The k = 1 column path needs no
such pass (a NaN never wins its `>`): a row left without a real score comes
back -inf, and the launcher gives it its lowest enabled code.

With `bounded=True` a body takes two more inputs, the last (value, index)
of each row's previous pass, and admits only codes ranked after it: the
launcher runs a top-k longer than one list as passes of `MAX_K` codes.
"""

import jax
from jax import lax
from jax import numpy as jnp
from jax.experimental import pallas as pl

from pallas_kernels.vq import topk

_CONTRACT_LAST = (((1,), (1,)), ((), ()))
# The lowest finite float32: the rank of NaN scores (ops.vq uses the same).
NAN_RANK = float(jnp.finfo(jnp.float32).min)


def _scores(a, b, precision) -> jax.Array:
  """a @ b.T with f32 accumulation: [m, d] x [n, d] -> [m, n]."""
  return lax.dot_general(a, b, _CONTRACT_LAST, precision=precision,
                         preferred_element_type=jnp.float32)


def ranked(scores: jax.Array, bias: jax.Array) -> jax.Array:
  """Scores as ranked: NaN, or -inf of an enabled code, becomes NAN_RANK.

  Args:
    scores: x . c + bias, f32.
    bias: the codes' biases, broadcastable to scores; -inf marks a disabled
      code, whose score stays -inf.
  """
  floor = jnp.where(bias == -jnp.inf, -jnp.inf, NAN_RANK)
  return jnp.where(scores >= NAN_RANK, scores, floor)


def _split_refs(refs, bounded: bool):
  """(after_value_ref, after_index_ref) or (None, None), then the outputs."""
  if bounded:
    return refs
  return (None, None, *refs)


def loop_kernel(x_ref, c_ref, b_ref, *refs, k: int, block_codes: int,
                precision, bounded: bool = False):
  """One (row block, group, split) program of the GPU kernel.

  For k = 1 each tile only updates an elementwise running max (no
  reduction, no shuffles inside the loop); the columns are reduced once at
  the end. For k > 1 every tile is merged into the running top-k list.

  Args:
    x_ref: [block_rows, d] rows of one group.
    c_ref: [split_codes, d] this split's codes.
    b_ref: [1, split_codes] their biases (f32, -inf disables).
    *refs: with `bounded`, after_value_ref [block_rows, 1] f32 and
      after_index_ref [block_rows, 1] int32 (see the module docstring);
      then values_ref [block_rows, kp], the output values, best first, and
      indices_ref [block_rows, kp], their code indices.
    k: number of codes kept per row (kp >= k slots are written).
    block_codes: codes per tile; divides split_codes.
    precision: dot precision (HIGHEST for f32 inputs).
    bounded: whether the after_* inputs are given.
  """
  after_value_ref, after_index_ref, values_ref, indices_ref = _split_refs(
      refs, bounded)
  split_codes = c_ref.shape[0]
  block_rows, kp = values_ref.shape
  num_tiles = split_codes // block_codes
  x = x_ref[...]
  first_code = pl.program_id(2) * split_codes

  def tile_scores(t):  # ([block_rows, block_codes], [1, block_codes])
    start = pl.multiple_of(t * block_codes, block_codes)
    codes = c_ref[pl.ds(start, block_codes), :]
    bias = b_ref[:, pl.ds(start, block_codes)]
    return _scores(x, codes, precision) + bias, bias

  def tile_ranked(t):  # [block_rows, block_codes], ready to merge
    scores = ranked(*tile_scores(t))
    if not bounded:
      return scores
    codes = first_code + t * block_codes + lax.broadcasted_iota(
        jnp.int32, scores.shape, 1)
    return topk.ranked_after(scores, codes, after_value_ref[...],
                             after_index_ref[...])

  if k == 1 and not bounded:
    shape = (block_rows, block_codes)
    best = lax.fori_loop(
        0, num_tiles,
        lambda t, carry: topk.column_update(*carry, tile_scores(t)[0], t),
        (jnp.full(shape, -jnp.inf, jnp.float32), jnp.zeros(shape, jnp.int32)))
    value, index = topk.column_result(*best, first_code, code_axis=1)
    best = (value,), (index,)
  else:
    best = lax.fori_loop(
        0, num_tiles,
        lambda t, best: topk.merge_tile(
            best, tile_ranked(t), first_code + t * block_codes, code_axis=1),
        topk.empty((block_rows, 1), k))
  values_ref[...] = topk.pack(best[0], 1, kp, -jnp.inf)
  indices_ref[...] = topk.pack(best[1], 1, kp, 0)


def grid_kernel(x_ref, c_ref, b_ref, *refs, k: int, precision,
                bounded: bool = False):
  """One (group, split, row block, code tile) step of the TPU kernel.

  Args:
    x_ref: [block_rows, d] rows of one group.
    c_ref: [block_codes, d] one tile of codes.
    b_ref: [block_codes, 1] their biases (f32, -inf disables).
    *refs: with `bounded`, after_value_ref [1, block_rows] f32 and
      after_index_ref [1, block_rows] int32 (see the module docstring);
      then values_ref [kp, block_rows], the running values, best first (the
      result), and indices_ref [kp, block_rows], their code indices.
    k: number of codes kept per row (kp >= k slots are written).
    precision: dot precision (HIGHEST for f32 inputs).
    bounded: whether the after_* inputs are given.
  """
  after_value_ref, after_index_ref, values_ref, indices_ref = _split_refs(
      refs, bounded)
  tile = pl.program_id(3)
  block_codes = c_ref.shape[0]
  kp = values_ref.shape[0]

  @pl.when(tile == 0)
  def _init():
    values_ref[...] = jnp.full(values_ref.shape, -jnp.inf, jnp.float32)
    indices_ref[...] = jnp.zeros(indices_ref.shape, jnp.int32)

  bias = b_ref[...]
  scores = ranked(_scores(c_ref[...], x_ref[...], precision) + bias, bias)
  best = (tuple(values_ref[j:j + 1, :] for j in range(k)),
          tuple(indices_ref[j:j + 1, :] for j in range(k)))
  first_code = (pl.program_id(1) * pl.num_programs(3) + tile) * block_codes
  if bounded:
    codes = first_code + lax.broadcasted_iota(jnp.int32, scores.shape, 0)
    scores = topk.ranked_after(scores, codes, after_value_ref[...],
                               after_index_ref[...])
  best = topk.merge_tile(best, scores, first_code, code_axis=0)
  values_ref[...] = topk.pack(best[0], 0, kp, -jnp.inf)
  indices_ref[...] = topk.pack(best[1], 0, kp, 0)
