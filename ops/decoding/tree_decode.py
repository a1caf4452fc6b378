"""Draft-tree decoding: one target forward verifies a whole tree of guesses.

    result = tree_decode(lm, prompt, max_new_tokens, drafter, drafter_state)

Each step the drafter proposes a tree of T tokens whose node 0 is the root,
the last accepted token (not yet in the cache). One `lm.extend` runs the
tree with its ancestor mask at positions `length + depth`; greedy
acceptance (`ops.decoding.tree.accept_greedy`) keeps the longest root path
that agrees with the model's argmax, `cache.commit` keeps that path's slots,
and the path plus the model's next token (the bonus) are appended: every
forward yields at least one token, and the output equals greedy decoding
(`ops.decoding.sampling.generate`) whatever the drafter proposes. The
drafter then updates its state from the forward's inputs and logits.

Rows that already hold `max_new_tokens` tokens are frozen (they append
nothing) while the others finish; the loop is a `lax.while_loop`.
"""

import functools
from typing import Any, NamedTuple, Protocol

import jax
from jax import numpy as jnp

from ops.attention import write_rows
from ops.decoding import check_prompt, prefill, read_rows, tree


class Drafter(Protocol):
  """Proposes draft trees; a hashable, static object (its state is separate).

  Attributes:
    tree_size: T, nodes per tree, the root included.
  """

  tree_size: int

  def draft(self, state, history, length):
    """The next tree.

    Args:
      state: the drafter's state (a pytree).
      history: [B, L] int32, prompt then generated tokens; only the first
        `length` of each row are meaningful.
      length: [B] int32; `history[b, length[b] - 1]` is the root.

    Returns:
      (tokens [B, T] int32, parent [T] or [B, T] int32), parents before
      children, `parent[0] == -1`. Node 0 is overwritten with the root.
    """

  def update(self, state, inputs, logits, history, length, num_new):
    """The state after a target forward.

    Args:
      state: the drafter's state.
      inputs: [B, M] tokens the forward read (the prompt, or a tree); a
        ragged prefill's rows hold PAD after their prompt.
      logits: [B, M, V] the forward's logits at those inputs.
      history: [B, L] after appending the new tokens.
      length: [B] after appending.
      num_new: [B] tokens appended by this forward (0 for frozen rows).

    Returns:
      The new state.
    """


class TreeDecoding(NamedTuple):
  """Attributes:

    tokens: [B, N] the new tokens (equal to greedy decoding).
    forward_calls: scalar int32, target forwards, the prefill included.
    step_tokens: [B, N] int32, tokens appended by each forward in order (the
      prefill's 1 first), 0 after the row was done; a row's forwards are its
      nonzero entries.
    state: the drafter's final state.
  """

  tokens: jax.Array
  forward_calls: jax.Array
  step_tokens: jax.Array
  state: Any


def _validate_tree(tokens, parent, batch: int, size: int):
  if tokens.shape != (batch, size):
    raise ValueError(f"tree_decode: the drafter's tokens must be [B={batch}, "
                     f"T={size}], got {list(tokens.shape)}")
  if parent.shape not in ((size,), (batch, size)):
    raise ValueError(f"tree_decode: the drafter's parent must be [T={size}] "
                     f"or [B, T], got {list(parent.shape)}")


def last_tokens(history, length, n: int):
  """history [B, L], length [B] -> [B, n], each row's last n tokens."""
  index = length[:, None] - n + jnp.arange(n)
  return jnp.take_along_axis(history, jnp.maximum(index, 0), axis=1)


def tree_decode(lm, prompt, max_new_tokens: int, drafter: Drafter, state, *,
                prompt_lengths=None) -> TreeDecoding:
  """Greedy decoding of `max_new_tokens` tokens, verifying draft trees.

  The arguments are checked eagerly (see `ops.decoding.check_prompt`), then
  one jitted loop runs.

  Args:
    lm: the target (see `ops.decoding`).
    prompt: [B, P] int token ids, left-padded if prompt_lengths is given.
    max_new_tokens: N.
    drafter: a `Drafter`.
    state: the drafter's initial state.
    prompt_lengths: optional [B] int, each row's prompt length.

  Returns:
    TreeDecoding.
  """
  check_prompt("tree_decode", prompt, max_new_tokens,
               vocab_size=lm.vocab_size, prompt_lengths=prompt_lengths)
  if drafter.tree_size < 1:
    raise ValueError(f"tree_decode: drafter.tree_size must be >= 1, got "
                     f"{drafter.tree_size}")
  return _tree_decode(lm, prompt, max_new_tokens, drafter, state,
                      prompt_lengths)


@functools.partial(jax.jit, static_argnames=("max_new_tokens", "drafter"))
def _tree_decode(lm, prompt, max_new_tokens, drafter, state, prompt_lengths):
  size = drafter.tree_size
  b, p = prompt.shape
  # Frozen rows still write a tree at their cache end: room for two trees.
  capacity = p + max_new_tokens + 2 * size
  prefilled = prefill("tree_decode", lm, prompt, prompt_lengths, capacity)
  first = jnp.argmax(prefilled.next_logits, axis=-1).astype(jnp.int32)
  history = jnp.zeros((b, capacity), jnp.int32).at[:, :p].set(
      prefilled.tokens)
  history = write_rows(history, first[:, None], prefilled.lengths)
  length = prefilled.lengths + 1
  step_tokens = jnp.zeros((b, max_new_tokens), jnp.int32).at[:, 0].set(1)
  state = drafter.update(state, prefilled.tokens, prefilled.logits, history,
                         length, jnp.ones((b,), jnp.int32))
  end = prefilled.lengths + max_new_tokens

  def unfinished(carry):
    length = carry[2]
    return jnp.any(length < end)

  def step(carry):
    cache, history, length, steps, step_tokens, state = carry
    done = length >= end
    tokens, parent = drafter.draft(state, history, length)
    _validate_tree(tokens, parent, b, size)
    root = last_tokens(history, length, 1)
    tokens = tokens.astype(jnp.int32).at[:, :1].set(root)
    parent = parent.astype(jnp.int32)
    start = cache.length  # == length - 1: the root is not cached yet
    logits, cache = lm.extend(
        tokens, cache, positions=start[:, None] + tree.depth(parent),
        qq_mask=tree.ancestor_mask(parent))
    accepted = tree.accept_greedy(tokens, parent,
                                  jnp.argmax(logits, axis=-1))
    num_new = jnp.where(done, 0, accepted.num_accepted)
    cache = cache.commit(start, accepted.path, num_new)
    # New tokens: the accepted nodes after the root, then the bonus.
    path_tokens = jnp.take_along_axis(tokens, accepted.path, axis=1)
    new = jnp.concatenate([path_tokens[:, 1:], accepted.bonus[:, None]], 1)
    new = jnp.where(jnp.arange(size) == num_new[:, None] - 1,
                    accepted.bonus[:, None], new)
    history = write_rows(history, new, length)
    length = length + num_new
    steps = steps + 1
    step_tokens = step_tokens.at[:, steps].set(num_new)
    state = drafter.update(state, tokens, logits, history, length, num_new)
    return cache, history, length, steps, step_tokens, state

  carry = (prefilled.cache, history, length, jnp.int32(0), step_tokens,
           state)
  _, history, _, steps, step_tokens, state = jax.lax.while_loop(
      unfinished, step, carry)
  return TreeDecoding(read_rows(history, prefilled.lengths, max_new_tokens),
                      steps + 1, step_tokens, state)
