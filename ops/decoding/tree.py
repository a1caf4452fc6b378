"""Draft trees: parent arrays, ancestor masks and greedy tree acceptance.

A tree of T nodes is `parent[T]` (int32, -1 for a root, parents before
children). Node i's ancestor mask row holds i and every ancestor of i: it is
the query-to-query mask of `ops.prefix_attention` for verifying the tree in
one forward pass, with positions `length + depth`. A chain is the tree
`parent = [-1, 0, 1, ...]`.
"""

from typing import NamedTuple

import jax
from jax import numpy as jnp


def ancestor_mask(parent) -> jax.Array:
  """parent [..., T] -> [..., T, T] bool, row i = {i} + ancestors of i."""
  t = parent.shape[-1]
  eye = jnp.eye(t, dtype=jnp.bool_)
  one_hot = jax.nn.one_hot(parent, t, dtype=jnp.bool_)  # -1 -> all False
  anc = jnp.broadcast_to(eye, parent.shape + (t,)) | one_hot
  # Each round doubles the covered depth: anc[i] |= anc[j] for j in anc[i].
  for _ in range(max(1, (t - 1).bit_length())):
    anc = anc | jnp.any(anc[..., :, :, None] & anc[..., None, :, :], axis=-2)
  return anc


def depth(parent) -> jax.Array:
  """parent [..., T] -> [..., T] int32, roots at depth 0."""
  return jnp.sum(ancestor_mask(parent), axis=-1).astype(jnp.int32) - 1


def chain_parent(length: int) -> jax.Array:
  return jnp.arange(length, dtype=jnp.int32) - 1


class Accepted(NamedTuple):
  """Result of greedy tree verification, per row.

  Attributes:
    path: [B, T] node indices from the root to the accepted node, padded
      with the last one; the first `num_accepted` are the accepted nodes.
    num_accepted: [B] int32, nodes on the accepted path (root included).
    bonus: [B] int32, the model's argmax at the deepest accepted node (the
      next token, free).
  """

  path: jax.Array
  num_accepted: jax.Array
  bonus: jax.Array


def accept_greedy(tokens, parent, target_argmax) -> Accepted:
  """Longest root path whose every token is the model's greedy choice.

  Node 0 is the root (already decided: the last accepted token). Node j > 0
  is correct iff `tokens[j] == target_argmax[parent[j]]`; a node is accepted
  iff it and all its ancestors are correct. The deepest accepted node wins,
  the lowest index among equals.

  Args:
    tokens: [B, T] node tokens.
    parent: [T] or [B, T] int32 parents; parent[0] == -1.
    target_argmax: [B, T] the model's argmax at every node.

  Returns:
    Accepted.
  """
  b, t = tokens.shape
  parent = jnp.broadcast_to(parent, (b, t))
  anc = ancestor_mask(parent)  # [B, T, T]
  parent_choice = jnp.take_along_axis(target_argmax,
                                      jnp.maximum(parent, 0), axis=1)
  correct = (tokens == parent_choice) | (parent < 0)
  ok = jnp.all(~anc | correct[:, None, :], axis=-1)  # [B, T]
  depths = jnp.sum(anc, axis=-1) - 1
  score = jnp.where(ok, depths * t + (t - 1 - jnp.arange(t)), -1)
  best = jnp.argmax(score, axis=-1)  # [B]
  n = jnp.take_along_axis(depths, best[:, None], 1)[:, 0] + 1
  # Path: the ancestors of `best`, ordered by depth.
  on_path = jnp.take_along_axis(anc, best[:, None, None], 1)[:, 0]  # [B, T]
  order = jnp.where(on_path, depths, t + jnp.arange(t))
  path = jnp.argsort(order, axis=-1, stable=True).astype(jnp.int32)
  path = jnp.where(jnp.arange(t) < n[:, None], path, best[:, None])
  bonus = jnp.take_along_axis(target_argmax, best[:, None], 1)[:, 0]
  return Accepted(path, n.astype(jnp.int32), bonus.astype(jnp.int32))
