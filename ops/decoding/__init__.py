"""Decoding strategies: jit-compiled, static shapes, `lax.while_loop`.

Every strategy takes a model that satisfies `DecodingModel` (a
`zoo.lm.decoder.CachedLM`, a `zoo.lm.table.TableLM`) and counts the
model's forward calls, prefill included.

Prompts are `prompt` [B, P] int token ids. Prompts of different lengths
share a batch left-padded, as for Hugging Face `generate`: the optional
`prompt_lengths` [B] says that row b's prompt is its last
`prompt_lengths[b]` tokens (the padding's values are ignored). Every row
decodes as it would alone: `prefill` moves each prompt to the start of its
cache row (`left_align`), so a row's positions start at 0 and no padding
slot is ever attended; greedy and lossless decoders give each row exactly
its own output. Without `prompt_lengths` every row is P tokens long.

`check_prompt` is every decoder's argument check. The public decoders run
it eagerly before their jitted loop, so token ids and lengths are checked
on the concrete arrays; called under an outer `jax.jit` they see tracers,
and only shapes and dtypes are checked.
"""

from typing import Any, NamedTuple, Protocol, runtime_checkable

import jax
import numpy as np
from jax import numpy as jnp

# The reserved ids of `zoo.lm.special_tokens` (a test checks they agree),
# defined here because ops import nothing from zoo. PAD fills empty token
# slots; diffusion decoding reads MASK and EOS.
PAD = 0
EOS_ID = 2
MASK_ID = 3


@runtime_checkable
class DecodingModel(Protocol):
  """What a decoding strategy needs of a model.

  The model is a pytree (it passes through `jax.jit` as an argument) whose
  cache has a static `capacity` (slots per row), a per-row `length` [B],
  `take(index)` (rows, for beams) and `commit(start, path, n)` (keep
  accepted slots). A model with a bounded context may give a cache of
  fewer slots than asked for; decoders then refuse the prompt.
  """

  @property
  def vocab_size(self) -> int:
    """Number of token ids; logits are [..., vocab_size]."""

  def init_cache(self, batch: int, capacity: int) -> Any:
    """An empty cache for `batch` rows of `capacity` slots."""

  def extend(self, tokens: jax.Array, cache: Any, positions=None,
             qq_mask=None, embeddings=None) -> tuple[jax.Array, Any]:
    """tokens [B, T] after the cached prefix -> (logits [B, T, V], cache
    with the T new slots written and `length` advanced by T).

    `positions` [B, T] default to `cache.length + arange(T)`; `qq_mask`
    [B, T, T] says which new tokens see which (causal by default);
    `embeddings` [B, T, D], where the model has them, replace the tokens'.
    """


def _concrete(*arrays) -> bool:
  return not any(isinstance(a, jax.core.Tracer) for a in arrays)


def check_prompt(name: str, prompt, max_new_tokens: int, *, vocab_size: int,
                 prompt_lengths=None, right_padded: bool = False) -> None:
  """Raises ValueError, naming `name` and the argument, unless the prompt
  is usable.

  Needs prompt int [B, P] with P >= 1, max_new_tokens >= 1, prompt_lengths
  None or int [B] in [1, P], and every prompt token (the last
  prompt_lengths[b] of row b, or the first if `right_padded`) in [0,
  vocab_size). Token ids and lengths are only checked on concrete arrays
  (not under an outer jit).
  """
  if (prompt.ndim != 2 or not jnp.issubdtype(prompt.dtype, jnp.integer)
      or prompt.shape[1] < 1):
    raise ValueError(f"{name}: prompt must be int [B, P] with P >= 1, got "
                     f"{prompt.dtype}{list(prompt.shape)}")
  if max_new_tokens < 1:
    raise ValueError(f"{name}: max_new_tokens must be >= 1, got "
                     f"{max_new_tokens}")
  b, p = prompt.shape
  if prompt_lengths is not None and (
      prompt_lengths.shape != (b,)
      or not jnp.issubdtype(prompt_lengths.dtype, jnp.integer)):
    raise ValueError(f"{name}: prompt lengths must be int [B={b}], got "
                     f"{prompt_lengths.dtype}{list(prompt_lengths.shape)}")
  if not _concrete(prompt, prompt_lengths):
    return
  tokens = np.asarray(prompt)
  real = np.ones(tokens.shape, bool)
  if prompt_lengths is not None:
    lengths = np.asarray(prompt_lengths)[:, None]
    if lengths.min() < 1 or lengths.max() > p:
      raise ValueError(f"{name}: prompt lengths must be in [1, P={p}], got "
                       f"{lengths[:, 0].tolist()}")
    real = (np.arange(p) < lengths if right_padded
            else np.arange(p) >= p - lengths)
  bad = real & ((tokens < 0) | (tokens >= vocab_size))
  if bad.any():
    row, col = np.argwhere(bad)[0]
    raise ValueError(f"{name}: prompt token ids must be in [0, {vocab_size})"
                     f", got {tokens[row, col]} at [{row}, {col}]")


def new_cache(name: str, lm, batch: int, capacity: int, prompt_len: int):
  """`lm.init_cache(batch, capacity)`; ValueError if it holds fewer slots.

  `capacity` is what the decoder needs for a prompt of `prompt_len` tokens:
  the prompt, the new tokens and the decoder's working room.
  """
  cache = lm.init_cache(batch, capacity)
  if cache.capacity < capacity:
    raise ValueError(f"{name}: a prompt of {prompt_len} tokens needs "
                     f"{capacity} cache slots here (with max_new_tokens and "
                     f"the decoder's working room), but the model's cache "
                     f"holds {cache.capacity}")
  return cache


def lengths_of(prompt, prompt_lengths=None) -> jax.Array:
  """[B] int32 prompt lengths: prompt_lengths, or P for every row."""
  if prompt_lengths is None:
    return jnp.full(prompt.shape[:1], prompt.shape[1], jnp.int32)
  return jnp.asarray(prompt_lengths, jnp.int32)


def left_align(tokens, lengths) -> jax.Array:
  """Left-padded rows [B, W] -> [B, W] int32: row b's last lengths[b]
  tokens first, then PAD."""
  w = tokens.shape[1]
  slot = jnp.arange(w)
  index = jnp.minimum(slot + (w - lengths)[:, None], w - 1)
  moved = jnp.take_along_axis(tokens.astype(jnp.int32), index, axis=1)
  return jnp.where(slot < lengths[:, None], moved, PAD)


def read_rows(seq, start, width: int):
  """seq [B, S, ...], start [B] -> [B, width, ...]: slots start[b] + [0,
  width)."""
  return jax.vmap(lambda s, i: jax.lax.dynamic_slice_in_dim(s, i, width))(
      seq, start)


class Prefill(NamedTuple):
  """A batch of prompts in the model's cache.

  Attributes:
    tokens: [B, P] int32 prompts, left-aligned (PAD after each length).
    lengths: [B] int32 prompt lengths.
    logits: [B, P, V] the model's logits at `tokens`.
    next_logits: [B, V] those after each row's last prompt token.
    cache: the cache, `length` = lengths.
  """

  tokens: jax.Array
  lengths: jax.Array
  logits: jax.Array
  next_logits: jax.Array
  cache: Any


def prefill(name: str, lm, prompt, prompt_lengths, capacity: int) -> Prefill:
  """One forward over the prompts into a new cache of `capacity` slots.

  Args:
    name: the decoder, for errors.
    lm: the model.
    prompt: [B, P] int, left-padded when prompt_lengths is given.
    prompt_lengths: None or [B] int (see the module docstring).
    capacity: the cache slots the decoder needs (see `new_cache`).

  Returns:
    Prefill. A left-aligned row's slots past its length hold PAD's keys
    and values, stale slots the next tokens overwrite.
  """
  b, p = prompt.shape
  lengths = lengths_of(prompt, prompt_lengths)
  tokens = prompt.astype(jnp.int32)
  if prompt_lengths is not None:
    tokens = left_align(tokens, lengths)
  logits, cache = lm.extend(tokens, new_cache(name, lm, b, capacity, p))
  if prompt_lengths is None:
    return Prefill(tokens, lengths, logits, logits[:, -1], cache)
  return Prefill(tokens, lengths, logits,
                 read_rows(logits, lengths - 1, 1)[:, 0],
                 cache.replace(length=lengths))
