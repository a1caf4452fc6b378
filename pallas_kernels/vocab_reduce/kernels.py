"""Kernel bodies for the vocabulary reduction: one streaming pass per row.

A row's state, carried from tile to tile of the vocabulary, is its running
max m, its normaliser sum exp(x - m), its spread sum exp(x - m) * (x - m)
(entropy = log normaliser - spread / normaliser, with no cancellation
against the log-normaliser), and its running top-k list (`vq/topk.py`).
Most tiles add nothing to a top-k list that is already full, so a tile is
merged only when its max beats some row's k-th value, and then one
candidate at a time, until none does.

- `loop_kernel` (GPU, Triton lowering): a program owns a block of rows and
  walks the vocabulary in a `fori_loop`; a last, partial tile is moved back
  to end at the last token and the tokens it shares with the previous tile
  are masked.
- `grid_kernel` (TPU, Mosaic): vocabulary tiles are the last, "arbitrary"
  grid axis; the state lives in VMEM scratch and in the output blocks of
  the top-k list, which stay resident across that axis.

Both run unchanged in interpret mode. Ties go to the lowest token id, and
-inf logits rank after every finite one, lowest id first, as in
`lax.top_k`. NaN logits rank as -inf ones; they make the row's normaliser
and spread NaN.
"""

import jax
from jax import lax
from jax import numpy as jnp
from jax.experimental import pallas as pl

from pallas_kernels.vq import topk

# -inf (and NaN) logits are ranked as this value, so a row with fewer than k
# finite logits still fills its list with the lowest-id ones; the launcher
# turns it back into -inf.
LOWEST = float(jnp.finfo(jnp.float32).min)
State = tuple[jax.Array, jax.Array, jax.Array, topk.TopK]


def empty_state(rows: int, k: int) -> State:
  column = (rows, 1)
  return (jnp.full(column, -jnp.inf, jnp.float32),
          jnp.zeros(column, jnp.float32), jnp.zeros(column, jnp.float32),
          topk.empty(column, k))


def _any(mask) -> jax.Array:
  # Triton has no reduce_or; a max over f32 lowers everywhere.
  return jnp.max(mask.astype(jnp.float32)) > 0


def _merge(best: topk.TopK, x, first_id, valid) -> topk.TopK:
  """Inserts the tile's candidates, best first, while any row takes one."""
  ranked = jnp.where(x >= LOWEST, x, LOWEST)  # -inf and NaN
  if valid is not None:
    ranked = jnp.where(valid, ranked, -jnp.inf)
  top = jnp.max(ranked, axis=1, keepdims=True)
  # Token ids within the tile as f32 (exact below 2**24): min-reductions
  # over f32 lower on every backend.
  column = lax.broadcasted_iota(jnp.int32, ranked.shape, 1).astype(
      jnp.float32)
  num = float(ranked.shape[1])

  def takes_one(carry):
    _, top, best = carry
    return _any(top > best[0][-1])

  def take(carry):
    ranked, top, best = carry
    pos = jnp.min(jnp.where(ranked == top, column, num), axis=1,
                  keepdims=True)
    best = topk.insert(best, top, pos.astype(jnp.int32) + first_id)
    ranked = jnp.where(column == pos, -jnp.inf, ranked)
    return ranked, jnp.max(ranked, axis=1, keepdims=True), best

  return lax.while_loop(takes_one, take, (ranked, top, best))[2]


def fold_tile(state: State, x, first_id, valid=None) -> State:
  """Folds one tile of logits into the running state.

  Args:
    state: (max, normaliser, spread, top-k list), each [rows, 1].
    x: [rows, n] f32 logits of tokens `first_id + [0, n)`.
    first_id: token id of the tile's first column.
    valid: None, or [1, n] bool: False columns are skipped (at least one
      column is valid).

  Returns:
    The updated state.
  """
  peak, total, spread, best = state
  if valid is not None:
    x = jnp.where(valid, x, -jnp.inf)
  tile_max = jnp.max(x, axis=1, keepdims=True)
  new_peak = jnp.maximum(peak, tile_max)
  # Rows with only -inf so far keep a max of -inf; shift them by 0.
  shift = jnp.where(new_peak == -jnp.inf, 0.0, new_peak)
  diff = x - shift
  weight = jnp.exp(diff)
  rescale = jnp.exp(peak - shift)
  moved = jnp.where(total > 0, (peak - shift) * total, 0.0)
  # maximum(): a -inf logit has weight 0 and must add 0, not 0 * -inf.
  spread = rescale * (spread + moved) + jnp.sum(
      weight * jnp.maximum(diff, LOWEST), axis=1, keepdims=True)
  total = total * rescale + jnp.sum(weight, axis=1, keepdims=True)
  # A NaN max hides the tile's best logits: merge to find them.
  top = jnp.maximum(tile_max, LOWEST)
  best = lax.cond(_any((top > best[0][-1]) | jnp.isnan(top)),
                  lambda b: _merge(b, x, first_id, valid),
                  lambda b: b, best)
  return new_peak, total, spread, best


def _write_stats(peak, total, spread, lse_ref, entropy_ref):
  # A row of -inf has total 0; a NaN logit makes it NaN, which stays NaN.
  empty = total == 0
  safe_total = jnp.where(empty, 1.0, total)
  lse_ref[...] = jnp.where(empty, -jnp.inf, peak + jnp.log(safe_total))
  entropy_ref[...] = jnp.where(
      empty, 0.0, jnp.log(safe_total) - spread / safe_total)


def _read_top(values_ref, ids_ref, k: int) -> topk.TopK:
  return (tuple(values_ref[:, j:j + 1] for j in range(k)),
          tuple(ids_ref[:, j:j + 1] for j in range(k)))


def _write_top(best: topk.TopK, values_ref, ids_ref):
  slots = values_ref.shape[1]
  values_ref[...] = topk.pack(best[0], 1, slots, -jnp.inf)
  ids_ref[...] = topk.pack(best[1], 1, slots, 0)


def loop_kernel(x_ref, lse_ref, entropy_ref, values_ref, ids_ref, *, k: int,
                block_vocab: int):
  """One block of rows of the GPU kernel.

  Args:
    x_ref: [rows, V] logits (V >= block_vocab).
    lse_ref, entropy_ref: [rows, 1] f32 outputs.
    values_ref: [rows, kp] f32 top logits, best first (kp >= k slots).
    ids_ref: [rows, kp] int32 their token ids.
    k: length of the top-k list.
    block_vocab: logits per row and tile.
  """
  rows, vocab = x_ref.shape
  num_full = vocab // block_vocab

  def tile(t, state):
    start = pl.multiple_of(t * block_vocab, block_vocab)
    x = x_ref[:, pl.ds(start, block_vocab)].astype(jnp.float32)
    return fold_tile(state, x, start)

  state = lax.fori_loop(0, num_full, tile, empty_state(rows, k))
  if vocab % block_vocab:
    start = vocab - block_vocab
    token = start + lax.broadcasted_iota(jnp.int32, (1, block_vocab), 1)
    x = x_ref[:, pl.ds(start, block_vocab)].astype(jnp.float32)
    state = fold_tile(state, x, start, valid=token >= num_full * block_vocab)
  _write_stats(*state[:3], lse_ref, entropy_ref)
  _write_top(state[3], values_ref, ids_ref)


def grid_kernel(x_ref, lse_ref, entropy_ref, values_ref, ids_ref, peak_ref,
                total_ref, spread_ref, *, k: int, vocab: int):
  """One (row block, vocabulary tile) step of the TPU kernel.

  Args:
    x_ref: [rows, block_vocab] logits; past the vocabulary, garbage.
    lse_ref, entropy_ref: [rows, 1] f32 outputs, written at the last tile.
    values_ref, ids_ref: [rows, kp] running top-k list and result.
    peak_ref, total_ref, spread_ref: [rows, 1] f32 scratch.
    k: length of the top-k list.
    vocab: number of real tokens.
  """
  tile = pl.program_id(1)
  rows, block_vocab = x_ref.shape

  @pl.when(tile == 0)
  def _init():
    peak, total, spread, best = empty_state(rows, k)
    peak_ref[...], total_ref[...], spread_ref[...] = peak, total, spread
    _write_top(best, values_ref, ids_ref)

  start = tile * block_vocab
  valid = None
  if vocab % block_vocab:
    token = start + lax.broadcasted_iota(jnp.int32, (1, block_vocab), 1)
    valid = token < vocab
  state = fold_tile(
      (peak_ref[...], total_ref[...], spread_ref[...],
       _read_top(values_ref, ids_ref, k)),
      x_ref[...].astype(jnp.float32), start, valid)
  peak_ref[...], total_ref[...], spread_ref[...], best = state
  _write_top(best, values_ref, ids_ref)

  @pl.when(tile == pl.num_programs(1) - 1)
  def _finish():
    _write_stats(*state[:3], lse_ref, entropy_ref)
