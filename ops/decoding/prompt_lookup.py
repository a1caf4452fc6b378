"""Prompt lookup (n-gram) drafting: copy what followed the last n tokens.

    out = tree_decode(lm, prompt, 128, PromptLookup(ngram=3, num_draft=8), ())

The last `ngram` tokens of prompt + generated text (the root included) are
searched for earlier in the same text; the `num_draft` tokens after the
most recent earlier occurrence are drafted as a chain. Drafted positions
past the end of the known text, and every position when nothing matches,
hold PAD, which the target rejects unless it agrees. The drafter has no
state.
"""

import dataclasses

from jax import numpy as jnp

from ops.decoding import PAD
from ops.decoding.tree import chain_parent
from ops.decoding.tree_decode import last_tokens


def lookup_continuation(history, length, ngram: int, num_draft: int):
  """The tokens after the latest earlier occurrence of the last n-gram.

  Args:
    history: [B, L] int32 token rows.
    length: [B] int32 known tokens per row.
    ngram: n, tokens to match (the last one is `history[length - 1]`).
    num_draft: K, tokens to copy.

  Returns:
    [B, K] int32 drafted tokens (PAD where unknown).
  """
  suffix = last_tokens(history, length, ngram)  # [B, n]
  end = jnp.arange(history.shape[1])  # a match ending just before `end`
  match = end >= ngram
  for i in range(ngram):
    start = jnp.maximum(end - ngram + i, 0)
    match &= history[:, start] == suffix[:, i:i + 1]
  # `end == length` would be the suffix itself.
  match &= end < length[:, None]
  found = jnp.max(jnp.where(match, end, -1), axis=1)  # [B]
  index = found[:, None] + jnp.arange(num_draft)
  copied = jnp.take_along_axis(history, jnp.clip(index, 0, None), axis=1,
                               mode="clip")
  known = (found[:, None] >= 0) & (index < length[:, None])
  return jnp.where(known, copied, PAD).astype(jnp.int32)


@dataclasses.dataclass(frozen=True)
class PromptLookup:
  """The prompt lookup drafter for `tree_decode` (a chain of K + 1 nodes).

  Attributes:
    ngram: tokens matched.
    num_draft: tokens drafted.
  """

  ngram: int = 3
  num_draft: int = 8

  def __post_init__(self):
    if self.ngram < 1 or self.num_draft < 0:
      raise ValueError(f"PromptLookup: need ngram >= 1 and num_draft >= 0, "
                       f"got {self.ngram} and {self.num_draft}")

  @property
  def tree_size(self) -> int:
    return self.num_draft + 1

  def draft(self, state, history, length):
    del state
    root = last_tokens(history, length, 1)
    drafted = lookup_continuation(history, length, self.ngram,
                                  self.num_draft)
    return (jnp.concatenate([root, drafted], axis=1),
            chain_parent(self.tree_size))

  def update(self, state, inputs, logits, history, length, num_new):
    del inputs, logits, history, length, num_new
    return state
