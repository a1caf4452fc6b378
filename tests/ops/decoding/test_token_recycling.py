"""Token Recycling: template, BFS drafting, adjacency updates, losslessness."""

import jax
import numpy as np
import pytest
from jax import numpy as jnp

from ops.decoding import tree
from ops.decoding.sampling import generate
from ops.decoding.token_recycling import (
    DEFAULT_RANK_PRIOR,
    TokenRecycling,
    draft_tokens,
    init_adjacency,
    tree_template,
    update_adjacency,
)
from ops.decoding.tree_decode import tree_decode
from tests.ops.decoding.test_tree_decode import (
    VOCAB,
    check_counts,
    tiny_transformer,
)
from zoo.lm.table import TableLM

K = len(DEFAULT_RANK_PRIOR)


def numpy_bfs(adjacency, roots, template):
  tokens = np.zeros((len(roots), len(template.parent)), np.int64)
  for b, root in enumerate(roots):
    tokens[b, 0] = root
    for j in range(1, len(template.parent)):
      tokens[b, j] = adjacency[tokens[b, template.parent[j]], template.rank[j]]
  return tokens


def numpy_update(adjacency, inputs, logits):
  adjacency = np.array(adjacency)
  rows = np.reshape(logits, (-1, np.shape(logits)[-1]))
  for token, row in zip(np.ravel(inputs), rows):
    adjacency[token] = np.argsort(-row, kind="stable")[:adjacency.shape[1]]
  return adjacency


def path_prior(path):
  return np.prod([DEFAULT_RANK_PRIOR[r] for r in path])


@pytest.mark.parametrize("num_nodes,max_depth", [(16, 4), (64, 6), (80, 6)])
def test_template_holds_the_paths_of_highest_prior(num_nodes, max_depth):
  t = tree_template(num_nodes, max_depth)
  assert t.parent.shape == (num_nodes + 1,) and t.parent[0] == -1
  assert (t.parent[1:] < np.arange(1, num_nodes + 1)).all()
  assert (t.depth[1:] == t.depth[t.parent[1:]] + 1).all()
  assert (np.diff(t.depth) >= 0).all()  # breadth first
  paths = [()]
  for j in range(1, num_nodes + 1):
    paths.append(paths[t.parent[j]] + (int(t.rank[j]),))
  assert len(set(paths)) == len(paths)
  # Priors fall along a path, so the best left-out path is a child of a
  # chosen one.
  chosen = set(paths)
  left_out = [p + (r,) for p in paths for r in range(K)
              if len(p) < max_depth and p + (r,) not in chosen]
  worst = min(path_prior(p) for p in paths[1:])
  assert worst >= max(map(path_prior, left_out)) * (1 - 1e-9)


def test_default_80_node_levels():
  assert np.bincount(tree_template(80).depth).tolist() == [
      1, 8, 19, 22, 18, 6, 7]


def test_draft_matches_numpy_bfs():
  rng = np.random.default_rng(0)
  adjacency = rng.integers(0, 50, (50, K)).astype(np.int32)
  roots = rng.integers(0, 50, 6).astype(np.int32)
  template = tree_template(80)
  got = jax.jit(lambda a, r: draft_tokens(a, r, template))(adjacency, roots)
  np.testing.assert_array_equal(got, numpy_bfs(adjacency, roots, template))


def test_update_sets_rows_to_topk_last_occurrence_wins():
  rng = np.random.default_rng(1)
  adjacency = rng.integers(0, 20, (20, K)).astype(np.int32)
  inputs = rng.integers(0, 20, (3, 9)).astype(np.int32)  # with repeats
  logits = rng.normal(size=(3, 9, 20)).astype(np.float32)
  got = jax.jit(update_adjacency)(adjacency, inputs, logits)
  np.testing.assert_array_equal(got, numpy_update(adjacency, inputs, logits))


def test_greedy_for_cold_random_and_hot_adjacency():
  lm = tiny_transformer()
  prompt = jax.random.randint(jax.random.key(1), (2, 6), 0, VOCAB)
  want = generate(lm, prompt, 16).tokens
  drafter = TokenRecycling(num_nodes=16, max_depth=4)
  random = jax.random.randint(jax.random.key(2), (VOCAB, K), 0, VOCAB)
  for adjacency in (init_adjacency(VOCAB), random):
    out = tree_decode(lm, prompt, 16, drafter, adjacency)
    np.testing.assert_array_equal(out.tokens, want)
    check_counts(out, 16)
  # Hot start: the matrix left by the last run.
  hot = tree_decode(lm, prompt, 16, drafter, out.state)
  np.testing.assert_array_equal(hot.tokens, want)


def test_one_step_recycles_every_input_row():
  lm = TableLM.random(jax.random.key(3), 16, order=3, temperature=0.5)
  prompt = jax.random.randint(jax.random.key(4), (2, 5), 0, 16)
  start = np.asarray(jax.random.randint(jax.random.key(5), (16, K), 0, 16))
  drafter = TokenRecycling(num_nodes=12, max_depth=3)
  out = tree_decode(lm, prompt, 2, drafter, jnp.asarray(start))
  # The same step by hand: prefill rows, BFS tree, tree rows.
  extend = jax.jit(type(lm).extend)
  logits, cache = extend(lm, prompt, lm.init_cache(2, 32))
  adjacency = numpy_update(start, prompt, logits)
  template = drafter.template
  nodes = numpy_bfs(adjacency, np.argmax(logits[:, -1], -1), template)
  mask = tree.ancestor_mask(np.array(template.parent))
  logits, _ = extend(lm, jnp.asarray(nodes, jnp.int32), cache,
                     cache.length[:, None] + template.depth, mask)
  np.testing.assert_array_equal(out.state,
                                numpy_update(adjacency, nodes, logits))
