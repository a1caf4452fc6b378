"""Draft-tree helpers against brute force on random trees."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from jax import numpy as jnp

from ops.decoding import tree


def random_parent(rng, t):
  return np.array([-1] + [int(rng.integers(0, i)) for i in range(1, t)])


def ancestors(parent, i):
  out = {i}
  while parent[i] >= 0:
    i = parent[i]
    out.add(i)
  return out


@settings(max_examples=20, deadline=None)
@given(st.integers(1, 12), st.integers(0, 2**31 - 1))
def test_ancestor_mask_and_depth(t, seed):
  parent = random_parent(np.random.default_rng(seed), t)
  mask = np.asarray(tree.ancestor_mask(jnp.asarray(parent)))
  for i in range(t):
    assert set(np.flatnonzero(mask[i])) == ancestors(parent, i)
  np.testing.assert_array_equal(
      tree.depth(jnp.asarray(parent)),
      [len(ancestors(parent, i)) - 1 for i in range(t)])


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 10), st.integers(2, 4), st.integers(0, 2**31 - 1))
def test_accept_greedy_is_the_deepest_correct_path(t, vocab, seed):
  rng = np.random.default_rng(seed)
  parent = random_parent(rng, t)
  tokens = rng.integers(0, vocab, (1, t))
  argmax = rng.integers(0, vocab, (1, t))
  got = tree.accept_greedy(jnp.asarray(tokens), jnp.asarray(parent),
                           jnp.asarray(argmax))
  best, best_depth = 0, 0
  for j in range(t):
    path = sorted(ancestors(parent, j), key=lambda a: len(ancestors(parent, a)))
    ok = all(tokens[0, a] == argmax[0, parent[a]] for a in path[1:])
    if ok and len(path) - 1 > best_depth:
      best, best_depth = j, len(path) - 1
  n = int(got.num_accepted[0])
  assert n == best_depth + 1
  want = sorted(ancestors(parent, best), key=lambda a: len(ancestors(parent,
                                                                   a)))
  np.testing.assert_array_equal(got.path[0, :n], want)
  assert int(got.bonus[0]) == argmax[0, best]


def test_the_ops_ids_are_the_reserved_ids():
  from ops.decoding import EOS_ID, MASK_ID, PAD
  from zoo.lm import special_tokens

  assert PAD == special_tokens.PAD
  assert EOS_ID == special_tokens.EOS
  assert MASK_ID == special_tokens.MASK
