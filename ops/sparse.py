"""Vocabulary-space (sparse lexical) representations: pooling, masks, scores.

Shared by the SPLADE family (DupMAE's bag-of-words head, SPLADE over an
LM's logits, VDR): token logits over a vocabulary are activated and
max-pooled into one non-negative vector per text, sparsified by a top-k or
bag-of-words mask, and scored by inner products.

  - `splade_pool`: max over real tokens of act(logits); act is SPLADE's
    log(1 + relu(x)), VDR's elu(x) + 1 (> 0 everywhere) or relu. Padding
    takes no part whatever it holds (NaN and inf included); a text without
    tokens pools to the zero vector.
  - `vocab_pool`: `splade_pool` of token states times vocabulary rows,
    with a backward pass that touches only each dimension's winning token.
  - `topk_mask`: the k largest entries of each row (ties to the lower index).
  - `bow`: the binary bag of words of token ids, shifted by `offset` (VDR
    keeps vocabulary rows 999.. of BERT: id i is dimension i - 999); ids
    outside [offset, offset + V) are dropped.
  - `flops`: SPLADE's FLOPS regulariser, sum_j (mean_i |x_ij|)^2.
  - `sparse_scores`: q @ d^T in float32, optionally keeping only masked
    entries of each side.

Every op has a `*_reference` in plain jnp; the public op validates its input
and runs the reference under jit (these are matmuls, maxima and scatters
that XLA fuses well; no kernel is needed at toy scale).
"""

import functools

import jax
from jax import numpy as jnp

ACTIVATIONS = {
    "log1p_relu": lambda x: jnp.log1p(jax.nn.relu(x)),
    # elu(x) + 1, written as exp(x) below 0 so it stays > 0 down to -87.
    "elu1p": lambda x: jnp.where(x > 0, x + 1.0, jnp.exp(jnp.minimum(x, 0))),
    "relu": jax.nn.relu,
}


def _fail(op: str, message: str):
  raise ValueError(f"{op}: {message}")


def _check_float(op: str, name: str, x, ndim: int) -> None:
  if x.ndim != ndim:
    _fail(op, f"{name} must be {ndim}-d, got shape {x.shape}")
  if not jnp.issubdtype(x.dtype, jnp.floating):
    _fail(op, f"{name} must be floating point, got {x.dtype}")


def _check_mask(op: str, name: str, mask, shape) -> None:
  if mask is not None and (mask.shape != tuple(shape)
                           or mask.dtype != jnp.bool_):
    _fail(op, f"{name} must be bool with shape {tuple(shape)}, got "
              f"{mask.dtype} {mask.shape}")


def _check_k(op: str, k, size: int) -> None:
  if not isinstance(k, int) or not 1 <= k <= size:
    _fail(op, f"k must be an int in [1, {size}] (the vocabulary), got {k!r}")


def splade_pool_reference(logits: jax.Array, mask: jax.Array, *,
                          activation: str = "log1p_relu") -> jax.Array:
  """`splade_pool` in plain jnp (no validation)."""
  act = ACTIVATIONS[activation](logits.astype(jnp.float32))
  # where, not a product: NaN or inf at padding must not leak.
  return jnp.max(jnp.where(mask[..., None], act, 0.0), axis=-2,
                 initial=0.0)


_splade_pool = jax.jit(splade_pool_reference,
                       static_argnames=("activation",))


def splade_pool(logits: jax.Array, mask: jax.Array, *,
                activation: str = "log1p_relu") -> jax.Array:
  """Max-pools activated token logits into one vocabulary vector per text.

  Args:
    logits: [B, L, V] token logits over the vocabulary.
    mask: [B, L] bool, True at real tokens.
    activation: one of `ACTIVATIONS` (all non-negative).

  Returns:
    [B, V] float32, >= 0; zero for a text without tokens.
  """
  _check_float("splade_pool", "logits", logits, 3)
  _check_mask("splade_pool", "mask", mask, logits.shape[:2])
  if activation not in ACTIVATIONS:
    _fail("splade_pool", f"activation must be one of {tuple(ACTIVATIONS)}, "
                         f"got {activation!r}")
  return _splade_pool(logits, mask, activation=activation)


def vocab_pool_reference(states: jax.Array, mask: jax.Array,
                         vocab: jax.Array, *,
                         activation: str = "log1p_relu") -> jax.Array:
  """`vocab_pool` in plain jnp: the projection, then `splade_pool`."""
  logits = jnp.einsum("blh,vh->blv", states.astype(jnp.float32),
                      vocab.astype(jnp.float32))
  return splade_pool_reference(logits, mask, activation=activation)


def _vocab_pool_fwd(states, mask, vocab, activation):
  logits = jnp.einsum("blh,vh->blv", states.astype(jnp.float32),
                      vocab.astype(jnp.float32))
  masked = jnp.where(mask[..., None], logits, -jnp.inf)
  best = jnp.argmax(masked, axis=1)  # [B, V] winning token per dimension
  found = mask.any(1)[:, None]
  # The activations are non-decreasing: the max of act is act of the max.
  top = jnp.where(found, jnp.max(masked, axis=1), 0.0)
  pooled = jnp.where(found, ACTIVATIONS[activation](top), 0.0)
  return pooled, (states, vocab, best, top, found)


def _vocab_pool_bwd(activation, saved, g):
  states, vocab, best, top, found = saved
  _, act_vjp = jax.vjp(ACTIVATIONS[activation], top)
  w = jnp.where(found, act_vjp(g)[0], 0.0)  # [B, V]
  vocab32 = vocab.astype(jnp.float32)

  def one_text(args):  # [V, H] per text, never [B, L, V]
    w_b, best_b, states_b = args
    d_states = jax.ops.segment_sum(w_b[:, None] * vocab32, best_b,
                                   num_segments=states_b.shape[0])
    d_vocab = w_b[:, None] * states_b.astype(jnp.float32)[best_b]
    return d_states, d_vocab

  def accumulate(total, args):
    d_states, d_vocab = one_text(args)
    return total + d_vocab, d_states

  d_vocab, d_states = jax.lax.scan(accumulate, jnp.zeros_like(vocab32),
                                   (w, best, states))
  return (d_states.astype(states.dtype), None, d_vocab.astype(vocab.dtype))


@functools.partial(jax.custom_vjp, nondiff_argnums=(3,))
def _vocab_pool_vjp(states, mask, vocab, activation):
  return _vocab_pool_fwd(states, mask, vocab, activation)[0]


_vocab_pool_vjp.defvjp(_vocab_pool_fwd, _vocab_pool_bwd)
_vocab_pool = jax.jit(_vocab_pool_vjp, static_argnums=3)


def vocab_pool(states: jax.Array, mask: jax.Array, vocab: jax.Array, *,
               activation: str = "log1p_relu") -> jax.Array:
  """`splade_pool` of token states projected on vocabulary rows.

  The same values as `vocab_pool_reference`; the backward pass routes each
  dimension's gradient to its winning token only (a gather and a
  segment-sum per text), so it never builds the [B, L, V] logit gradient.

  Args:
    states: [B, L, H] token states.
    mask: [B, L] bool, True at real tokens.
    vocab: [V, H] vocabulary rows (e.g. a tied output embedding).
    activation: one of `ACTIVATIONS`.

  Returns:
    [B, V] float32, >= 0; zero for a text without tokens.
  """
  _check_float("vocab_pool", "states", states, 3)
  _check_float("vocab_pool", "vocab", vocab, 2)
  _check_mask("vocab_pool", "mask", mask, states.shape[:2])
  if states.shape[2] != vocab.shape[1]:
    _fail("vocab_pool", f"states {states.shape} and vocab {vocab.shape} "
                        "differ in width")
  if activation not in ACTIVATIONS:
    _fail("vocab_pool", f"activation must be one of {tuple(ACTIVATIONS)}, "
                        f"got {activation!r}")
  return _vocab_pool(states, mask, vocab, activation)


def topk_mask_reference(x: jax.Array, k: int) -> jax.Array:
  """`topk_mask` in plain jnp (no validation)."""
  _, top = jax.lax.top_k(x, k)  # [..., k]
  hits = jnp.zeros(x.shape, jnp.bool_)
  rows = x.reshape(-1, x.shape[-1]).shape[0]
  flat = hits.reshape(rows, -1).at[jnp.arange(rows)[:, None],
                                   top.reshape(rows, k)].set(True)
  return flat.reshape(x.shape)


_topk_mask = jax.jit(topk_mask_reference, static_argnames=("k",))


def topk_mask(x: jax.Array, k: int) -> jax.Array:
  """The k largest entries of each row of x [..., V] as a bool mask.

  Ties go to the lower index, so every row has exactly k True entries.

  Raises:
    ValueError: x is not a float array of rank >= 1, or k outside [1, V].
  """
  if x.ndim < 1 or not jnp.issubdtype(x.dtype, jnp.floating):
    _fail("topk_mask", f"x must be a float array of rank >= 1, got "
                       f"{x.dtype} {x.shape}")
  _check_k("topk_mask", k, x.shape[-1])
  return _topk_mask(x, k)


def bow_reference(ids: jax.Array, mask: jax.Array, *, vocab_size: int,
                  offset: int = 0) -> jax.Array:
  """`bow` in plain jnp (no validation)."""
  shifted = ids.astype(jnp.int32) - offset
  keep = mask & (shifted >= 0) & (shifted < vocab_size)
  # Dropped tokens point past the end; mode="drop" ignores them.
  target = jnp.where(keep, shifted, vocab_size)
  rows = jnp.arange(ids.shape[0])[:, None]
  return jnp.zeros((ids.shape[0], vocab_size), jnp.float32).at[
      rows, target].set(1.0, mode="drop")


_bow = jax.jit(bow_reference, static_argnames=("vocab_size", "offset"))


def bow(ids: jax.Array, mask: jax.Array, *, vocab_size: int,
        offset: int = 0) -> jax.Array:
  """Binary bag of words of token ids.

  Args:
    ids: [B, L] integer token ids.
    mask: [B, L] bool, True at real tokens.
    vocab_size: V, the dimensions kept.
    offset: id of dimension 0 (VDR: 999).

  Returns:
    [B, V] float32: 1 at id - offset for every real id in [offset, offset +
    V), else 0.
  """
  if ids.ndim != 2 or not jnp.issubdtype(ids.dtype, jnp.integer):
    _fail("bow", f"ids must be [B, L] integers, got {ids.dtype} {ids.shape}")
  _check_mask("bow", "mask", mask, ids.shape)
  if not isinstance(vocab_size, int) or vocab_size < 1:
    _fail("bow", f"vocab_size must be an int >= 1, got {vocab_size!r}")
  if not isinstance(offset, int) or offset < 0:
    _fail("bow", f"offset must be an int >= 0, got {offset!r}")
  return _bow(ids, mask, vocab_size=vocab_size, offset=offset)


def flops_reference(x: jax.Array) -> jax.Array:
  """`flops` in plain jnp (no validation)."""
  return jnp.sum(jnp.mean(jnp.abs(x.astype(jnp.float32)), axis=0) ** 2)


_flops = jax.jit(flops_reference)


def flops(x: jax.Array) -> jax.Array:
  """SPLADE's FLOPS regulariser of a batch of vectors x [B, V]: a scalar,
  sum over dimensions of the squared mean absolute activation."""
  _check_float("flops", "x", x, 2)
  if x.shape[0] == 0:
    _fail("flops", "x needs at least one row")
  return _flops(x)


def sparse_scores_reference(q: jax.Array, d: jax.Array,
                            q_keep: jax.Array | None = None,
                            d_keep: jax.Array | None = None) -> jax.Array:
  """`sparse_scores` in plain jnp (no validation)."""
  q, d = q.astype(jnp.float32), d.astype(jnp.float32)
  if q_keep is not None:
    q = jnp.where(q_keep, q, 0.0)
  if d_keep is not None:
    d = jnp.where(d_keep, d, 0.0)
  return jnp.dot(q, d.T, precision=jax.lax.Precision.HIGHEST)


_sparse_scores = jax.jit(sparse_scores_reference)


def sparse_scores(q: jax.Array, d: jax.Array, q_keep: jax.Array | None = None,
                  d_keep: jax.Array | None = None) -> jax.Array:
  """Inner products of vocabulary vectors, keeping only masked entries.

  Args:
    q: [Q, V] query vectors.
    d: [N, V] document vectors.
    q_keep: optional [Q, V] bool, entries of q that count (e.g. top-k OR
      bag of words).
    d_keep: optional [N, V] bool, likewise for d.

  Returns:
    [Q, N] float32 scores.
  """
  _check_float("sparse_scores", "q", q, 2)
  _check_float("sparse_scores", "d", d, 2)
  if q.shape[1] != d.shape[1]:
    _fail("sparse_scores", f"q {q.shape} and d {d.shape} differ in "
                           "vocabulary size")
  _check_mask("sparse_scores", "q_keep", q_keep, q.shape)
  _check_mask("sparse_scores", "d_keep", d_keep, d.shape)
  return _sparse_scores(q, d, q_keep, d_keep)
