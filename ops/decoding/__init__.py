"""Decoding strategies: jit-compiled, static shapes, `lax.while_loop`.

Every strategy takes a model that satisfies `DecodingModel` (a
`zoo.lm.decoder.CachedLM`, a `zoo.lm.table.TableLM`) and counts the
model's forward calls, prefill included.
"""

from typing import Any, Protocol, runtime_checkable

import jax
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
  cache has a static capacity and a per-row `length` [B], `take(index)`
  (rows, for beams) and `commit(start, path, n)` (keep accepted slots).
  """

  @property
  def vocab_size(self) -> int:
    """Number of token ids; logits are [..., vocab_size]."""

  def init_cache(self, batch: int, capacity: int) -> Any:
    """An empty cache for `batch` rows of at most `capacity` tokens."""

  def extend(self, tokens: jax.Array, cache: Any, positions=None,
             qq_mask=None, embeddings=None) -> tuple[jax.Array, Any]:
    """tokens [B, T] after the cached prefix -> (logits [B, T, V], cache
    with the T new slots written and `length` advanced by T).

    `positions` [B, T] default to `cache.length + arange(T)`; `qq_mask`
    [B, T, T] says which new tokens see which (causal by default);
    `embeddings` [B, T, D], where the model has them, replace the tokens'.
    """


def check_prompt(name: str, prompt, max_new_tokens: int) -> None:
  """Raises ValueError, naming `name`, unless prompt is int [B, P] and
  max_new_tokens >= 1."""
  if prompt.ndim != 2 or not jnp.issubdtype(prompt.dtype, jnp.integer):
    raise ValueError(f"{name}: prompt must be int [B, P], got "
                     f"{prompt.dtype}{list(prompt.shape)}")
  if max_new_tokens < 1:
    raise ValueError(f"{name}: max_new_tokens must be >= 1, got "
                     f"{max_new_tokens}")
