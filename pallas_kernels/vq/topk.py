"""Running top-k lists shared by the nearest-codeword kernels.

A list holds, for every row of a block, the k best (value, code index) pairs
seen so far, best first. It is a tuple of k value arrays and a tuple of k
index arrays, each shaped like one score tile with its code axis reduced to
size 1 ([rows, 1] when codes run along axis 1, [1, rows] when they run
along axis 0). Keeping the k slots as separate arrays needs no gather, sort
or lane shuffle, so the same code lowers to Triton, Mosaic and interpret
mode.

Ties go to the lowest code index: tiles are merged in increasing code order,
a candidate never displaces an equal value already in the list, and within a
tile equal values are taken lowest index first.
"""

import jax
from jax import lax
from jax import numpy as jnp

TopK = tuple[tuple[jax.Array, ...], tuple[jax.Array, ...]]


def empty(shape: tuple[int, ...], k: int) -> TopK:
  """A list of k empty slots (value -inf, index 0) of the given shape."""
  values = tuple(jnp.full(shape, -jnp.inf, jnp.float32) for _ in range(k))
  indices = tuple(jnp.zeros(shape, jnp.int32) for _ in range(k))
  return values, indices


def ranked_after(scores: jax.Array, codes: jax.Array, after_value: jax.Array,
                 after_index: jax.Array) -> jax.Array:
  """Scores of the codes that rank strictly after (after_value, after_index).

  The order is the lists' own: value descending, then code index
  ascending. Other codes get -inf, so a pass that starts after the last
  entry of the previous pass continues the same ranking (top-k longer than
  one list, in passes).

  Args:
    scores: ranked (NaN-free) f32 tile.
    codes: int32 global code ids, broadcastable to scores.
    after_value, after_index: the previous pass's last (value, index) per
      row, broadcastable to scores; (+inf, -1) admits every code.
  """
  later = (scores < after_value) | ((scores == after_value)
                                     & (codes > after_index))
  return jnp.where(later, scores, -jnp.inf)


def insert(best: TopK, value: jax.Array, index: jax.Array) -> TopK:
  """Inserts one candidate per row after all slots that are >= it."""
  values, indices = best
  new_values, new_indices = [], []
  keep_prev = None
  for j in range(len(values)):
    keep = values[j] >= value
    if keep_prev is None:
      below_value, below_index = value, index
    else:
      below_value = jnp.where(keep_prev, value, values[j - 1])
      below_index = jnp.where(keep_prev, index, indices[j - 1])
    new_values.append(jnp.where(keep, values[j], below_value))
    new_indices.append(jnp.where(keep, indices[j], below_index))
    keep_prev = keep
  return tuple(new_values), tuple(new_indices)


def merge_tile(
    best: TopK, scores: jax.Array, first_code: jax.Array | int, *,
    code_axis: int,
) -> TopK:
  """Merges one tile of scores into the running list.

  Args:
    best: the running list; its arrays have `scores`' shape with `code_axis`
      reduced to 1.
    scores: [rows, codes] or [codes, rows] float32 tile; -inf never enters.
    first_code: global index of the tile's first code.
    code_axis: the axis of `scores` that runs over codes.

  Returns:
    The updated list.
  """
  num_codes = scores.shape[code_axis]
  # Tile-local code ids as f32 (exact below 2**24): min-reductions over f32
  # lower on every backend.
  ids = lax.broadcasted_iota(jnp.int32, scores.shape, code_axis)
  ids = ids.astype(jnp.float32)
  k = len(best[0])
  for j in range(k):
    top = jnp.max(scores, axis=code_axis, keepdims=True)
    hits = jnp.where(scores == top, ids, float(num_codes))
    pos = jnp.min(hits, axis=code_axis, keepdims=True)
    if j + 1 < k:
      scores = jnp.where(ids == pos, -jnp.inf, scores)
    best = insert(best, top, pos.astype(jnp.int32) + first_code)
  return best


def column_update(best: jax.Array, tile_ids: jax.Array, scores: jax.Array,
                  tile: jax.Array | int) -> tuple[jax.Array, jax.Array]:
  """k = 1 without a reduction per tile: an elementwise running max.

  `best` and `tile_ids` have the tile's shape; each element keeps the best
  score its column position has seen and the (first) tile it came from.
  `column_result` reduces them once, after the last tile.
  """
  better = scores > best
  return jnp.where(better, scores, best), jnp.where(better, tile, tile_ids)


def column_result(best: jax.Array, tile_ids: jax.Array,
                  first_code: jax.Array | int, *, code_axis: int):
  """Best (value, index) over the columns kept by `column_update`.

  Returns:
    value [.., 1] float32 and index [.., 1] int32 with `code_axis` reduced;
    equal values resolve to the lowest code index.
  """
  block_codes = best.shape[code_axis]
  top = jnp.max(best, axis=code_axis, keepdims=True)
  codes = (tile_ids * block_codes
           + lax.broadcasted_iota(jnp.int32, best.shape, code_axis))
  codes = jnp.where(best == top, codes, jnp.iinfo(jnp.int32).max)
  return top, jnp.min(codes, axis=code_axis, keepdims=True) + first_code


def pack(items: tuple[jax.Array, ...], axis: int, size: int, fill) -> jax.Array:
  """Stacks k arrays with a unit `axis` into `size` slots along it.

  Slots past k get `fill`. Built from selects, so it lowers everywhere.
  """
  if size == 1 and len(items) == 1:
    return items[0]
  shape = list(items[0].shape)
  shape[axis] = size
  slot = lax.broadcasted_iota(jnp.int32, shape, axis)
  out = jnp.full(shape, fill, items[0].dtype)
  for j, item in enumerate(items):
    out = jnp.where(slot == j, item, out)
  return out
