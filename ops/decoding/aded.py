"""ADED: draft trees searched in an adaptive trigram model of the target.

    table = trigram_table_from_corpus(train_tokens)       # host, numpy
    out = tree_decode(lm, prompt, 256, ADED(tree_size=32), table)
    out.state                                             # the adapted table

The trigram table maps a context (a, b) to its `width` most frequent
continuations and their counts, in a hashed array (`num_buckets` rows,
linear probing over `PROBES` rows; a context that finds no room is dropped
at build time and evicts the probed context of least total count at run
time). It starts from corpus counts, scaled so that a context's counts sum
to at most `corpus_weight`, and every trigram the target produces (its
accepted tokens and bonus, after the context that preceded them) adds 1:
after a few repetitions the target's own habits outweigh the corpus.

Draft trees come from a fixed number of simulations on fixed-size node
arrays, like Monte Carlo tree search with PUCT selection. Each simulation
walks down from the root; at node u with table probabilities P(c) over its
context's continuations it picks

    score(c) = P(c) * (1 + exploration * sqrt(N(u)) / (1 + N(child c)))

(N: visits), descends if that child is in the tree, else adds it and stops.
The exploitation term is the table probability itself (a draft token's
value is its chance of acceptance, which P estimates; no rollouts), and the
bonus shares visits among siblings in proportion to P, as PUCT does; with
`exploration = 0` the tree is the greedy walk down the table. These
constants are choices: the paper's are not published. Unused node slots
are PAD children of the root.
"""

import dataclasses
from typing import NamedTuple

import jax
import numpy as np
from jax import numpy as jnp

from ops.decoding import PAD
from ops.decoding.tree_decode import last_tokens

PROBES = 4
_EMPTY = np.uint32(0xFFFFFFFF)
_GOLDEN = np.uint32(0x9E3779B1)


class TrigramTable(NamedTuple):
  """Attributes:

    keys: [H] uint32 packed contexts `a << 16 | b`, 0xFFFFFFFF when empty.
    next_tokens: [H, width] int32 continuations.
    counts: [H, width] float32 their counts, 0 for an empty slot.
  """

  keys: jax.Array
  next_tokens: jax.Array
  counts: jax.Array


def _context_key(a, b):
  return (a.astype(jnp.uint32) << 16) | b.astype(jnp.uint32)


def _probe_rows(key, num_buckets: int):
  """key [...] -> [..., PROBES] int32 rows (multiplicative hashing)."""
  shift = 32 - (num_buckets.bit_length() - 1)
  base = ((key * _GOLDEN) >> shift).astype(jnp.int32)
  rows = base[..., None] + jnp.arange(PROBES)
  return rows & (num_buckets - 1)


def empty_trigram_table(num_buckets: int = 1 << 18,
                        width: int = 12) -> TrigramTable:
  """A table with no contexts; `num_buckets` a power of two >= PROBES."""
  if num_buckets < PROBES or num_buckets & (num_buckets - 1):
    raise ValueError(f"trigram table: num_buckets must be a power of two >= "
                     f"{PROBES}, got {num_buckets}")
  if width < 1:
    raise ValueError(f"trigram table: width must be >= 1, got {width}")
  return TrigramTable(jnp.full((num_buckets,), _EMPTY, jnp.uint32),
                      jnp.zeros((num_buckets, width), jnp.int32),
                      jnp.zeros((num_buckets, width), jnp.float32))


def trigram_table_from_corpus(tokens, *, num_buckets: int = 1 << 18,
                              width: int = 12,
                              corpus_weight: float = 4.0) -> TrigramTable:
  """Counts the trigrams of a token stream into a table (on the host).

  Args:
    tokens: [N] int token ids < 65535.
    num_buckets: table rows, a power of two.
    width: continuations kept per context, the most frequent (lowest id on
      ties).
    corpus_weight: a context's kept counts are scaled to sum to at most
      this.

  Returns:
    TrigramTable; contexts claim rows in order of falling total count, so
    when the table overflows it is mostly the rarest that find none.
  """
  tokens = np.asarray(tokens, np.int64)
  if tokens.ndim != 1 or (tokens.size and (
      tokens.min() < 0 or tokens.max() >= 0xFFFF)):
    raise ValueError("trigram_table_from_corpus: tokens must be a 1-D array "
                     "of ids in [0, 65535)")
  empty = empty_trigram_table(num_buckets, width)
  keys, next_tokens, counts = (np.array(a) for a in empty)
  if tokens.size < 3:
    return empty
  grams, freq = np.unique(tokens[:-2] << 32 | tokens[1:-1] << 16 | tokens[2:],
                          return_counts=True)
  context, follow = grams >> 16, grams & 0xFFFF
  order = np.lexsort((follow, -freq, context))
  context, follow, freq = context[order], follow[order], freq[order]
  contexts, first = np.unique(context, return_index=True)
  group = np.searchsorted(contexts, context)
  rank = np.arange(context.size) - first[group]
  keep = rank < width
  group, follow, freq, rank = group[keep], follow[keep], freq[keep], rank[keep]
  total = np.bincount(group, weights=freq)
  scale = np.minimum(1.0, corpus_weight / total)
  # Place contexts by falling total; in each probe round the first claimant
  # of a free row gets it.
  row_of = np.full(contexts.size, -1)
  rows = np.asarray(_probe_rows(jnp.asarray(contexts.astype(np.uint32)),
                                num_buckets))
  priority = np.lexsort((contexts, -total))
  for probe in range(PROBES):
    waiting = priority[row_of[priority] < 0]
    wanted = rows[waiting, probe]
    free = keys[wanted] == _EMPTY
    waiting, wanted = waiting[free], wanted[free]
    _, winner = np.unique(wanted, return_index=True)
    row_of[waiting[winner]] = wanted[winner]
    keys[wanted[winner]] = contexts[waiting[winner]]
  placed = row_of[group] >= 0
  target = row_of[group][placed]
  next_tokens[target, rank[placed]] = follow[placed]
  counts[target, rank[placed]] = (freq * scale[group])[placed]
  return TrigramTable(jnp.asarray(keys), jnp.asarray(next_tokens),
                      jnp.asarray(counts))


def lookup(table: TrigramTable, a, b):
  """Continuations of contexts (a, b) [...].

  Returns:
    (next_tokens [..., width] int32, counts [..., width] f32, zero for
    empty slots and unknown contexts).
  """
  key = _context_key(a, b)
  rows = _probe_rows(key, table.keys.shape[0])
  hit = table.keys[rows] == key[..., None]
  row = jnp.take_along_axis(rows, jnp.argmax(hit, -1)[..., None], -1)[..., 0]
  counts = jnp.where(jnp.any(hit, -1)[..., None], table.counts[row], 0.0)
  return table.next_tokens[row], counts


def _probabilities(counts):
  total = jnp.sum(counts, -1, keepdims=True)
  return counts / jnp.where(total > 0, total, 1.0)


def _add_trigram(table: TrigramTable, a, b, c) -> TrigramTable:
  """Adds 1 to the count of (a, b, c), making room where needed."""
  key = _context_key(a, b)
  rows = _probe_rows(key, table.keys.shape[0])
  keys = table.keys[rows]
  hit, free = keys == key, keys == _EMPTY
  # The context's row, else a free one, else the least used one (evicted).
  least_used = jnp.argmin(jnp.sum(table.counts[rows], -1))
  probe = jnp.where(jnp.any(hit), jnp.argmax(hit),
                    jnp.where(jnp.any(free), jnp.argmax(free), least_used))
  row = rows[probe]
  known = jnp.any(hit)
  follow = jnp.where(known, table.next_tokens[row], 0)
  counts = jnp.where(known, table.counts[row], 0.0)
  seen = (follow == c) & (counts > 0)
  slot = jnp.where(jnp.any(seen), jnp.argmax(seen), jnp.argmin(counts))
  count = jnp.where(jnp.any(seen), counts[slot], 0.0) + 1.0
  return TrigramTable(table.keys.at[row].set(key),
                      table.next_tokens.at[row].set(follow.at[slot].set(c)),
                      table.counts.at[row].set(counts.at[slot].set(count)))


def add_trigrams(table: TrigramTable, a, b, c, valid) -> TrigramTable:
  """Adds the valid trigrams (a, b, c) [n] one after the other, in order."""
  def one(i, table):
    return jax.lax.cond(valid[i], _add_trigram, lambda t, *_: t, table,
                        a[i], b[i], c[i])
  return jax.lax.fori_loop(0, a.shape[0], one, table)


class DraftTree(NamedTuple):
  """tokens, parent: [T] int32 (see ops.decoding.tree); num_nodes: used."""

  tokens: jax.Array
  parent: jax.Array
  num_nodes: jax.Array


def search_draft_tree(table: TrigramTable, prev, root, *, tree_size: int,
                      num_simulations: int, exploration: float,
                      max_depth: int) -> DraftTree:
  """One row's draft tree from the table; see the module docstring.

  Args:
    table: the trigram table.
    prev, root: scalar int32, the two last tokens (root = node 0).
    tree_size: T, node slots (the root included).
    num_simulations: walks from the root; each adds at most one node.
    exploration: the PUCT constant (0: greedy walk).
    max_depth: the deepest level.

  Returns:
    DraftTree.
  """
  width = table.next_tokens.shape[1]
  first_tok, first_count = lookup(table, prev, root)
  tree = dict(
      tokens=jnp.zeros((tree_size,), jnp.int32).at[0].set(root),
      parent=jnp.zeros((tree_size,), jnp.int32).at[0].set(-1),
      depth=jnp.zeros((tree_size,), jnp.int32),
      visits=jnp.zeros((tree_size,), jnp.float32),
      cand_tok=jnp.zeros((tree_size, width), jnp.int32).at[0].set(first_tok),
      cand_prob=jnp.zeros((tree_size, width)).at[0].set(
          _probabilities(first_count)),
      child=jnp.full((tree_size, width), -1, jnp.int32),
      size=jnp.int32(1))

  def visit(_, carry):
    tree, u, active = carry
    n_u = tree["visits"][u]
    tree["visits"] = tree["visits"].at[u].add(jnp.where(active, 1.0, 0.0))
    child = tree["child"][u]
    child_visits = jnp.where(child >= 0, tree["visits"][child], 0.0)
    valid = (tree["cand_prob"][u] > 0) & (
        (child >= 0) | (tree["size"] < tree_size)) & (
            tree["depth"][u] < max_depth)
    score = tree["cand_prob"][u] * (
        1.0 + exploration * jnp.sqrt(n_u) / (1.0 + child_visits))
    pick = jnp.argmax(jnp.where(valid, score, -1.0))
    go = active & jnp.any(valid)
    expand = go & (child[pick] < 0)
    new = jnp.where(expand, tree["size"], tree_size)  # tree_size: dropped
    token = tree["cand_tok"][u, pick]
    cand_tok, cand_count = lookup(table, tree["tokens"][u], token)
    for name, value in (("tokens", token), ("parent", u),
                        ("depth", tree["depth"][u] + 1), ("visits", 1.0),
                        ("cand_tok", cand_tok),
                        ("cand_prob", _probabilities(cand_count))):
      tree[name] = tree[name].at[new].set(value, mode="drop")
    tree["child"] = tree["child"].at[u, pick].set(
        jnp.where(expand, new, child[pick]))
    tree["size"] = tree["size"] + expand
    descend = go & ~expand
    return tree, jnp.where(descend, child[pick], u), descend

  def simulate(_, tree):
    return jax.lax.fori_loop(0, max_depth + 1, visit,
                             (tree, jnp.int32(0), True))[0]

  tree = jax.lax.fori_loop(0, num_simulations, simulate, tree)
  used = jnp.arange(tree_size) < tree["size"]
  return DraftTree(jnp.where(used, tree["tokens"], PAD), tree["parent"],
                   tree["size"])


@dataclasses.dataclass(frozen=True)
class ADED:
  """The ADED drafter for `tree_decode`; its state is a TrigramTable.

  Attributes:
    tree_size: T, node slots per tree (the root included).
    num_simulations: search walks per tree.
    exploration: PUCT constant (0: greedy walk down the table).
    max_depth: deepest drafted level.
    adapt: add the target's trigrams to the table (False: frozen table).
  """

  tree_size: int = 32
  num_simulations: int = 64
  exploration: float = 1.0
  max_depth: int = 8
  adapt: bool = True

  def __post_init__(self):
    if self.tree_size < 1 or self.num_simulations < 0 or self.max_depth < 1:
      raise ValueError(f"ADED: need tree_size >= 1, num_simulations >= 0 and "
                       f"max_depth >= 1, got {self.tree_size}, "
                       f"{self.num_simulations}, {self.max_depth}")
    if self.exploration < 0:
      raise ValueError(f"ADED: exploration must be >= 0, got "
                       f"{self.exploration}")

  def draft(self, table, history, length):
    last_two = last_tokens(history, length, 2)
    search = lambda prev, root: search_draft_tree(
        table, prev, root, tree_size=self.tree_size,
        num_simulations=self.num_simulations, exploration=self.exploration,
        max_depth=self.max_depth)
    tree = jax.vmap(search)(last_two[:, 0], last_two[:, 1])
    return tree.tokens, tree.parent

  def update(self, table, inputs, logits, history, length, num_new):
    """Adds the trigrams ending at each newly appended token."""
    del logits
    if not self.adapt:
      return table
    # A forward appends at most tree_size tokens (the prefill: one).
    span = min(inputs.shape[1], self.tree_size)
    end = length[:, None] - num_new[:, None] + jnp.arange(span)  # [B, span]
    valid = (jnp.arange(span) < num_new[:, None]) & (end >= 2)
    a, b, c = (jnp.take_along_axis(history, jnp.maximum(end - i, 0), axis=1)
               for i in (2, 1, 0))
    return add_trigrams(table, a.reshape(-1), b.reshape(-1), c.reshape(-1),
                        valid.reshape(-1))
