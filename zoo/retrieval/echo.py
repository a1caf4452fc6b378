"""Echo inputs: a text written twice, so a causal LM's second copy sees it all.

Mistral-SPLADE (Doshi et al., 2024) and echo embeddings (Springer et al.,
2024) feed a causal decoder the text twice and read only the second copy:
there, every position has attended to the whole text once. Each row becomes

    <bos> x_0 .. x_{c-1} <eos> <bos> x_0 .. x_{c-1} <pad> ..

left-aligned, with c = min(n, (length - 3) // 2) for a text of n tokens: when
the row is too short, each copy is cut to the same first c tokens (half of
the length left after the three specials). `second_copy` marks the c
positions of the second x (not its <bos>), the ones a pooled representation
reads. The <eos> <bos> separator is ours (UNVERIFIED: the paper does not
print its template).
"""

import jax
from jax import numpy as jnp

from zoo.lm import special_tokens


def _echo(tokens, mask, bos, eos, length, pad):
  batch = tokens.shape[0]
  rows = jnp.arange(batch)[:, None]
  half = (length - 3) // 2
  rank = jnp.cumsum(mask, axis=1) - 1  # [B, T] index among real tokens
  keep = mask & (rank < half)  # the first c real tokens
  c = keep.sum(1)  # [B]
  out = jnp.full((batch, length), pad, jnp.int32)
  out = out.at[:, 0].set(bos)
  # Dropped tokens point past the end; mode="drop" ignores them.
  first = jnp.where(keep, 1 + rank, length)
  second = jnp.where(keep, c[:, None] + 3 + rank, length)
  out = out.at[rows, first].set(tokens.astype(jnp.int32), mode="drop")
  out = out.at[rows, second].set(tokens.astype(jnp.int32), mode="drop")
  out = out.at[jnp.arange(batch), c + 1].set(eos)
  out = out.at[jnp.arange(batch), c + 2].set(bos)
  pos = jnp.arange(length)[None, :]
  end = 2 * c[:, None] + 3
  return out, pos < end, (pos >= c[:, None] + 3) & (pos < end)


_echo_jit = jax.jit(_echo, static_argnames=("length",))


def echo_tokens(tokens: jax.Array, mask: jax.Array, bos: int, eos: int, *,
                length: int | None = None, pad: int = special_tokens.PAD
                ) -> tuple[jax.Array, jax.Array, jax.Array]:
  """Builds `<bos> x <eos> <bos> x` rows from padded token rows.

  Args:
    tokens: [B, T] integer ids of the texts, without specials.
    mask: [B, T] bool, True at real tokens (need not be left-aligned: real
      tokens are taken in order).
    bos: id of the sequence-start token.
    eos: id of the sequence-end token.
    length: T', the output length, >= 3; default 2 T + 3 (nothing cut).
      Each copy keeps the first (T' - 3) // 2 tokens at most.
    pad: id written after the second copy.

  Returns:
    tokens [B, T'] int32, mask [B, T'] bool (True through the second copy)
    and second_copy [B, T'] bool (True at the second copy's x tokens; all
    False for an empty text).
  """
  if tokens.ndim != 2 or not jnp.issubdtype(tokens.dtype, jnp.integer):
    raise ValueError(f"echo_tokens: tokens must be [B, T] integers, got "
                     f"{tokens.dtype} {tokens.shape}")
  if mask.shape != tokens.shape or mask.dtype != jnp.bool_:
    raise ValueError(f"echo_tokens: mask must be bool with shape "
                     f"{tokens.shape}, got {mask.dtype} {mask.shape}")
  if length is None:
    length = 2 * tokens.shape[1] + 3
  if not isinstance(length, int) or length < 3:
    raise ValueError(f"echo_tokens: length must be an int >= 3, got "
                     f"{length!r}")
  for name, value in (("bos", bos), ("eos", eos), ("pad", pad)):
    if not isinstance(value, int):
      raise ValueError(f"echo_tokens: {name} must be an int, got {value!r}")
  return _echo_jit(tokens, mask, bos, eos, length, pad)
