"""Token Recycling: draft trees from the target's own discarded top-k.

    drafter = TokenRecycling(num_nodes=80)
    adjacency = init_adjacency(lm.vocab_size)        # [V, 8], cold start
    out = tree_decode(lm, prompt, 128, drafter, adjacency)
    out.state                                        # keep it: hot start

The adjacency matrix `A[V, k]` holds, for every token t, the k most likely
next tokens the model predicted the last time t was an input. A static tree
template (node = path of child ranks, e.g. (0, 2, 1)) is filled breadth
first from the root by gathers, `token(node) = A[token(parent), rank]`.
After each forward, the row of every input token (tree nodes and prompt
positions alike) becomes the top-k of the logits there; when one token is
input several times, its last occurrence (batch-major, then node order)
wins.

The template holds the `num_nodes` rank paths of highest prior, a path's
prior being the product of a per-rank acceptance prior; the paper's
hand-tuned "2.2.2" tree has 80 nodes on levels of 8/21/25/15/8/3, the
default prior gives 80 nodes on levels of 8/19/22/18/6/7.
"""

import dataclasses
import functools
import heapq
from typing import NamedTuple

import numpy as np
from jax import numpy as jnp

from ops.decoding.tree_decode import last_tokens
from ops.vocab import vocab_reduce

# Chance that the model's choice is the rank-r successor, r = 0..k-1.
DEFAULT_RANK_PRIOR = (0.55, 0.2, 0.1, 0.06, 0.04, 0.03, 0.02, 0.015)


class TreeTemplate(NamedTuple):
  """A static draft tree of T nodes, node 0 the root, breadth-first order.

  Attributes:
    parent: [T] int32, -1 for the root.
    rank: [T] int32, the node's column of its parent's adjacency row (0 for
      the root).
    depth: [T] int32.
  """

  parent: np.ndarray
  rank: np.ndarray
  depth: np.ndarray


@functools.cache
def tree_template(num_nodes: int, max_depth: int = 6,
                  rank_prior: tuple[float, ...] = DEFAULT_RANK_PRIOR
                  ) -> TreeTemplate:
  """The `num_nodes` rank paths of highest prior, plus the root.

  Args:
    num_nodes: drafted nodes (the root excluded), e.g. 16, 64, 80.
    max_depth: the deepest level.
    rank_prior: per-rank priors in (0, 1); its length is the adjacency
      width k.

  Returns:
    TreeTemplate with T = num_nodes + 1 (fewer if the depth limit runs out
    of paths).
  """
  if num_nodes < 0 or max_depth < 1:
    raise ValueError(f"tree_template: need num_nodes >= 0 and max_depth >= "
                     f"1, got {num_nodes} and {max_depth}")
  if not rank_prior or not all(0 < q < 1 for q in rank_prior):
    raise ValueError(f"tree_template: rank_prior must be in (0, 1), got "
                     f"{rank_prior}")
  # Best-first: a child's prior is below its parent's, so the chosen set is
  # closed under taking parents. Ties go to the lexicographically first.
  frontier, paths = [(-1.0, ())], []
  while frontier and len(paths) <= num_nodes:
    neg_prior, path = heapq.heappop(frontier)
    paths.append(path)
    if len(path) < max_depth:
      for r, q in enumerate(rank_prior):
        heapq.heappush(frontier, (neg_prior * q, path + (r,)))
  paths.sort(key=lambda path: (len(path), path))
  index = {path: i for i, path in enumerate(paths)}
  parent = [index[path[:-1]] if path else -1 for path in paths]
  rank = [path[-1] if path else 0 for path in paths]
  return TreeTemplate(np.array(parent, np.int32), np.array(rank, np.int32),
                      np.array([len(path) for path in paths], np.int32))


def init_adjacency(vocab_size: int, k: int = len(DEFAULT_RANK_PRIOR)):
  """[V, k] int32 zeros: the cold start."""
  return jnp.zeros((vocab_size, k), jnp.int32)


def draft_tokens(adjacency, root, template: TreeTemplate):
  """Fills the template breadth first.

  Args:
    adjacency: [V, k] int32.
    root: [B] int32 root tokens.
    template: the tree.

  Returns:
    [B, T] int32 node tokens.
  """
  t = template.parent.shape[0]
  parent = np.maximum(template.parent, 0)
  tokens = jnp.broadcast_to(root[:, None], (root.shape[0], t))
  for level in range(1, int(template.depth.max()) + 1):
    children = adjacency[tokens[:, parent], template.rank]
    tokens = jnp.where(template.depth == level, children, tokens)
  return tokens


def update_adjacency(adjacency, inputs, logits):
  """Rows `inputs` of A become the top-k of their logits.

  Args:
    adjacency: [V, k] int32.
    inputs: [B, M] int tokens.
    logits: [B, M, V] the model's logits at those inputs.

  Returns:
    [V, k] int32; a token input several times keeps its last occurrence's.
  """
  v, k = adjacency.shape
  top = vocab_reduce(logits, k=k).top_ids.reshape(-1, k)
  rows = inputs.reshape(-1).astype(jnp.int32)
  # Drop all but each token's last occurrence: scatters with duplicate
  # indices have no defined winner.
  later = jnp.triu(rows[:, None] == rows[None, :], k=1).any(axis=1)
  rows = jnp.where(later, v, rows)
  return adjacency.at[rows].set(top, mode="drop")


@dataclasses.dataclass(frozen=True)
class TokenRecycling:
  """The Token Recycling drafter for `tree_decode`; its state is A [V, k].

  Attributes:
    num_nodes: drafted nodes per tree (16, 64, 80, ...).
    max_depth: deepest level of the template.
    rank_prior: see `tree_template`.
  """

  num_nodes: int = 80
  max_depth: int = 6
  rank_prior: tuple[float, ...] = DEFAULT_RANK_PRIOR

  @property
  def template(self) -> TreeTemplate:
    return tree_template(self.num_nodes, self.max_depth, self.rank_prior)

  @property
  def tree_size(self) -> int:
    return self.template.parent.shape[0]

  def draft(self, adjacency, history, length):
    if adjacency.shape[1] != len(self.rank_prior):
      raise ValueError(f"TokenRecycling: adjacency must be [V, "
                       f"{len(self.rank_prior)}], got {adjacency.shape}")
    root = last_tokens(history, length, 1)[:, 0]
    template = self.template
    return draft_tokens(adjacency, root, template), template.parent

  def update(self, adjacency, inputs, logits, history, length, num_new):
    del history, length, num_new  # every input row is recycled
    return update_adjacency(adjacency, inputs, logits)
