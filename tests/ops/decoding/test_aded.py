"""ADED: the trigram table, the tree search and lossless adaptive decoding."""

import collections
import functools

import jax
import numpy as np
import pytest

from ops.decoding import aded
from ops.decoding.sampling import generate
from ops.decoding.tree_decode import tree_decode
from tests.ops.decoding.test_tree_decode import check_counts
from zoo.lm.table import TableLM

VOCAB = 10
lookup = jax.jit(aded.lookup)


def counted(tokens, width, corpus_weight):
  """{(a, b, c): scaled count} for the `width` most frequent c after (a, b)."""
  grams = collections.Counter(zip(tokens, tokens[1:], tokens[2:]))
  by_context = collections.defaultdict(list)
  for (a, b, c), n in grams.items():
    by_context[a, b].append((-n, c))
  table = {}
  for (a, b), entries in by_context.items():
    kept = sorted(entries)[:width]
    scale = min(1.0, corpus_weight / -sum(n for n, _ in kept))
    table.update({(a, b, c): -n * scale for n, c in kept})
  return table


def table_dict(table):
  """The table as {(a, b, c): count}, read through `lookup`."""
  a, b = (x.ravel() for x in np.meshgrid(range(VOCAB), range(VOCAB)))
  tokens, counts = (np.asarray(x) for x in lookup(table, a, b))
  return {(int(x), int(y), int(z)): float(n)
          for x, y, row_tokens, row_counts in zip(a, b, tokens, counts)
          for z, n in zip(row_tokens, row_counts) if n > 0}


def add(counts, trigrams):
  """counts + 1 per trigram."""
  counts = dict(counts)
  for gram in trigrams:
    gram = tuple(map(int, gram))
    counts[gram] = counts.get(gram, 0.0) + 1.0
  return counts


@pytest.fixture(scope="module")
def corpus():
  # Text with structure: a noisy walk, so contexts have a few continuations.
  rng = np.random.default_rng(0)
  steps = rng.choice([1, 1, 2, 3], size=400)
  return (np.cumsum(steps) % VOCAB).astype(np.int32)


@pytest.mark.parametrize("width,weight", [(2, 4.0), (VOCAB, 1000.0)])
def test_table_from_corpus_counts_trigrams(corpus, width, weight):
  table = aded.trigram_table_from_corpus(corpus, num_buckets=1024,
                                         width=width, corpus_weight=weight)
  assert table_dict(table) == pytest.approx(
      counted(corpus.tolist(), width, weight))


def test_added_trigrams_change_exactly_their_counts(corpus):
  table = aded.trigram_table_from_corpus(corpus, num_buckets=1024,
                                         width=VOCAB, corpus_weight=1000.0)
  rng = np.random.default_rng(1)
  a, b, c = rng.integers(0, VOCAB, (3, 60)).astype(np.int32)
  valid = rng.random(60) < 0.7
  after = jax.jit(aded.add_trigrams)(table, a, b, c, valid)
  want = add(table_dict(table), zip(a[valid], b[valid], c[valid]))
  assert table_dict(after) == pytest.approx(want)


@functools.partial(jax.jit, static_argnums=3)
def search_many(table, prev, root, budget, exploration):
  size, sims, depth = budget
  return jax.vmap(lambda p, r: aded.search_draft_tree(
      table, p, r, tree_size=size, num_simulations=sims,
      exploration=exploration, max_depth=depth))(prev, root)


def contexts(corpus, num):
  """`num` (prev, root) pairs seen in the corpus, and one unseen pair."""
  start = np.random.default_rng(num).integers(0, len(corpus) - 1, num - 1)
  return (np.append(corpus[start], 0).astype(np.int32),
          np.append(corpus[start + 1], 0).astype(np.int32))


def greedy_walk(table, prev, root, steps):
  walk = [prev, root]
  for _ in range(steps):
    tokens, counts = (np.asarray(x) for x in lookup(table, *walk[-2:]))
    if counts.max() <= 0:
      break
    walk.append(int(tokens[np.argmax(counts)]))
  return walk[2:]


def test_zero_exploration_is_the_greedy_walk(corpus):
  table = aded.trigram_table_from_corpus(corpus, num_buckets=1024, width=3)
  prev, root = contexts(corpus, 16)
  trees = search_many(table, prev, root, (12, 30, 4), 0.0)
  for i in range(16):
    walk = greedy_walk(table, int(prev[i]), int(root[i]), 4)
    n = len(walk) + 1
    assert int(trees.num_nodes[i]) == n
    np.testing.assert_array_equal(trees.tokens[i, 1:n], walk)
    np.testing.assert_array_equal(trees.parent[i, :n], np.arange(n) - 1)
    assert (np.asarray(trees.tokens[i, n:]) == 0).all()


@pytest.mark.parametrize("budget", [(12, 30, 4), (6, 3, 4)])
def test_search_builds_a_valid_tree_within_budget(corpus, budget):
  size, sims, depth = budget
  table = aded.trigram_table_from_corpus(corpus, num_buckets=1024, width=4)
  prev, root = contexts(corpus, 16)
  trees = search_many(table, prev, root, budget, 1.5)
  known = table_dict(table)
  assert int(trees.num_nodes.max()) == min(size, sims + 1)
  for i in range(16):
    n = int(trees.num_nodes[i])
    tokens = [int(root[i])] + np.asarray(trees.tokens[i, 1:]).tolist()
    parent = np.asarray(trees.parent[i])
    depth_of = [0] * size
    for j in range(1, n):
      p = parent[j]
      assert 0 <= p < j
      depth_of[j] = depth_of[p] + 1
      above = int(prev[i]) if p == 0 else tokens[parent[p]]
      assert (above, tokens[p], tokens[j]) in known  # a table continuation
    assert max(depth_of) <= depth
    children = [(parent[j], tokens[j]) for j in range(1, n)]
    assert len(set(children)) == len(children)  # no repeated sibling
    assert (parent[n:] == 0).all() and tokens[n:] == [0] * (size - n)


def test_adaptive_decoding_is_greedy_and_learns_only_its_trigrams(corpus):
  lm = TableLM.random(jax.random.key(4), VOCAB, order=3, temperature=0.5)
  table = aded.trigram_table_from_corpus(corpus, num_buckets=1024,
                                         width=VOCAB, corpus_weight=1000.0)
  prompt = jax.random.randint(jax.random.key(5), (2, 6), 0, VOCAB)
  drafter = aded.ADED(tree_size=8, num_simulations=12, max_depth=4)
  out = tree_decode(lm, prompt, 30, drafter, table)
  greedy = np.asarray(generate(lm, prompt, 30 + drafter.tree_size).tokens)
  np.testing.assert_array_equal(out.tokens, greedy[:, :30])
  check_counts(out, 30)
  # Every appended token (past N too) is a verified trigram's last token.
  appended = np.asarray(out.step_tokens).sum(axis=1)
  text = np.concatenate([prompt[:, -2:], greedy], axis=1)
  produced = [gram for row, n in zip(text, appended)
              for gram in zip(row, row[1:], row[2:n + 2])]
  assert table_dict(out.state) == pytest.approx(
      add(table_dict(table), produced))
