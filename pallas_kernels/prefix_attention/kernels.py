"""Kernel bodies for prefix attention: flash attention over a KV cache.

Every program owns one row of the batch, one kv head and a block of new
tokens; its queries are those tokens times the query heads that share the
kv head, stacked as the rows of its dots. It first attends to the new
tokens' own keys (gathered by the launcher, visible through the
query-to-query mask) and then streams the visible part of the cache,
`[0, length)`, in blocks of keys, with an online softmax in f32 (running
max, running normaliser, rescaled accumulator). Blocks past `length` are
never read: the cache's capacity costs nothing.

- `loop_kernel` (GPU, Triton lowering): the program walks the cache in a
  `fori_loop` with a data-dependent trip count; with `num_splits > 1` each
  program takes one contiguous range of the row's blocks and writes its
  normalised partial output and log-normaliser for the launcher to merge.
- `grid_kernel` (TPU, Mosaic): the key blocks are the last, "arbitrary"
  grid axis; step 0 takes the new tokens, the running state lives in VMEM
  scratch, and the index maps clamp every block past `length` to the last
  visible one (read from the scalar-prefetched lengths), so it is fetched
  once and skipped.

Both run unchanged in interpret mode.
"""

import jax
from jax import lax
from jax import numpy as jnp
from jax.experimental import pallas as pl

_CONTRACT_LAST = (((1,), (1,)), ((), ()))
State = tuple[jax.Array, jax.Array, jax.Array]


def empty_state(rows: int, dim: int) -> State:
  """(running max [rows, 1], normaliser [rows, 1], output [rows, dim])."""
  return (jnp.full((rows, 1), -jnp.inf, jnp.float32),
          jnp.zeros((rows, 1), jnp.float32),
          jnp.zeros((rows, dim), jnp.float32))


def attend(state: State, q, keys, values, visible, *, scale: float,
           precision) -> State:
  """Folds one block of keys into the running softmax.

  Args:
    state: the running (max, normaliser, unnormalised output).
    q: [rows, D] queries.
    keys, values: [n, D] one block of keys and values.
    visible: bool, broadcastable to [rows, n]: which keys each row sees.
    scale: logit scale.
    precision: dot precision (HIGHEST for f32 inputs).

  Returns:
    The updated state.
  """
  peak, total, acc = state
  logits = lax.dot_general(q, keys, _CONTRACT_LAST, precision=precision,
                           preferred_element_type=jnp.float32) * scale
  logits = jnp.where(visible, logits, -jnp.inf)
  new_peak = jnp.maximum(peak, jnp.max(logits, axis=1, keepdims=True))
  # Rows that have seen no key keep a max of -inf; shift them by 0 so that
  # exp() gives 0 instead of nan.
  shift = jnp.where(new_peak == -jnp.inf, 0.0, new_peak)
  weights = jnp.exp(logits - shift)
  rescale = jnp.exp(peak - shift)
  total = total * rescale + jnp.sum(weights, axis=1, keepdims=True)
  acc = acc * rescale + lax.dot_general(
      weights.astype(values.dtype), values, (((1,), (0,)), ((), ())),
      precision=precision, preferred_element_type=jnp.float32)
  return new_peak, total, acc


def finish(state: State) -> tuple[jax.Array, jax.Array]:
  """Normalised output [rows, D] and log-normaliser [rows, 1].

  A row that saw no key gets output 0 and log-normaliser -inf.
  """
  peak, total, acc = state
  seen = total > 0
  out = acc / jnp.where(seen, total, 1.0)
  lse = jnp.where(seen, peak + jnp.log(jnp.where(seen, total, 1.0)),
                  -jnp.inf)
  return out, lse


def loop_kernel(length_ref, q_ref, k_ref, v_ref, new_k_ref, new_v_ref,
                mask_ref, *out_refs, scale: float, block_keys: int,
                num_splits: int, precision):
  """One (row, kv head, token block, split) program of the GPU kernel.

  Args:
    length_ref: [] int32, visible cached keys of this row.
    q_ref: [block, group, D] queries: a block of new tokens times the query
      heads of this kv head.
    k_ref, v_ref: [S, D] this kv head's cache (S >= block_keys).
    new_k_ref, new_v_ref: [Tp, D] keys and values of the new tokens.
    mask_ref: [block, Tp] int8, nonzero where a token sees a new token.
    *out_refs: out [block, group, D] in q's dtype; with num_splits > 1,
      the split's normalised output [block, group, D] f32 and its
      log-normaliser [block, group] f32 instead.
    scale: logit scale.
    block_keys: cached keys per loop step.
    num_splits: programs sharing one row's cache.
    precision: dot precision.
  """
  block, group, dim = q_ref.shape
  rows = block * group
  num_slots = k_ref.shape[0]
  num_new = new_k_ref.shape[0]
  q = q_ref[...].reshape(rows, dim)
  split = pl.program_id(3)
  chunk = min(num_new, block_keys)

  def new_tokens(c, state):
    cols = pl.ds(pl.multiple_of(c * chunk, chunk), chunk)
    visible = mask_ref[:, cols] != 0  # [block, chunk]
    if group > 1:  # row (token, head) sees what its token sees
      visible = jnp.broadcast_to(visible[:, None, :],
                                 (block, group, chunk)).reshape(rows, chunk)
    return attend(state, q, new_k_ref[cols, :], new_v_ref[cols, :], visible,
                  scale=scale, precision=precision)

  # The first split takes the new tokens.
  state = lax.fori_loop(0, jnp.where(split == 0, num_new // chunk, 0),
                        new_tokens, empty_state(rows, dim))

  length = length_ref[...]
  num_blocks = (length + block_keys - 1) // block_keys
  per_split = (num_blocks + num_splits - 1) // num_splits
  first = split * per_split
  column = lax.broadcasted_iota(jnp.int32, (1, block_keys), 1)

  def cached(j, state):
    # A block running past the cache's end is moved back to end with it;
    # the slots it shares with the previous block are masked.
    start = jnp.minimum(j * block_keys, num_slots - block_keys)
    slot = start + column
    visible = (slot >= j * block_keys) & (slot < length)
    keys = pl.ds(start, block_keys)
    # Zero the values past `length`: unwritten slots may hold nan, and
    # 0 * nan would leak into the output.
    row_slot = start + lax.broadcasted_iota(jnp.int32, (block_keys, 1), 0)
    values = jnp.where(row_slot < length, v_ref[keys, :], 0)
    return attend(state, q, k_ref[keys, :], values, visible, scale=scale,
                  precision=precision)

  state = lax.fori_loop(first, jnp.minimum(num_blocks, first + per_split),
                        cached, state)
  out, lse = finish(state)
  out_refs[0][...] = out.reshape(block, group, dim).astype(
      out_refs[0].dtype)
  if num_splits > 1:
    out_refs[1][...] = lse.reshape(block, group)


def grid_kernel(lengths_ref, q_ref, k_ref, v_ref, new_k_ref, new_v_ref,
                mask_ref, out_ref, peak_ref, total_ref, acc_ref, *,
                scale: float, precision):
  """One (row, kv head, token block, step) grid step of the TPU kernel.

  Step 0 attends to the new tokens, step j > 0 to cache block j - 1.

  Args:
    lengths_ref: [B] int32 in SMEM, visible cached keys per row.
    q_ref: [rows, D] queries, rows = (token, head) pairs of this kv head.
    k_ref, v_ref: [block_keys, D] one block of this kv head's cache; the
      part past the cache's end holds garbage.
    new_k_ref, new_v_ref: [Tp, D] keys and values of the new tokens.
    mask_ref: [rows, Tp] int32, nonzero where a row sees a new token.
    out_ref: [rows, D] output in q's dtype, written at the last step.
    peak_ref, total_ref: [rows, 1] f32 scratch; acc_ref: [rows, D] f32.
    scale: logit scale.
    precision: dot precision.
  """
  step = pl.program_id(3)
  length = lengths_ref[pl.program_id(0)]
  block_keys = k_ref.shape[0]
  start = (step - 1) * block_keys

  def update(state, keys, values, visible):
    state = attend(state, q_ref[...], keys, values, visible, scale=scale,
                   precision=precision)
    peak_ref[...], total_ref[...], acc_ref[...] = state

  @pl.when(step == 0)
  def _new_tokens():
    update(empty_state(*acc_ref.shape), new_k_ref[...], new_v_ref[...],
           mask_ref[...] != 0)

  @pl.when((step > 0) & (start < length))
  def _cached():
    row_slot = start + lax.broadcasted_iota(jnp.int32, (block_keys, 1), 0)
    # Zero the values past `length`: beyond the cache they are garbage,
    # and 0 * nan would leak into the output.
    values = jnp.where(row_slot < length, v_ref[...], 0)
    column_slot = start + lax.broadcasted_iota(jnp.int32, (1, block_keys), 1)
    update((peak_ref[...], total_ref[...], acc_ref[...]), k_ref[...],
           values, column_slot < length)

  @pl.when(step == pl.num_programs(3) - 1)
  def _finish():
    out, _ = finish((peak_ref[...], total_ref[...], acc_ref[...]))
    out_ref[...] = out.astype(out_ref.dtype)
