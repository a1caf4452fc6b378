"""N-gram models counted from a token corpus: decoding priors under jit.

    table = build_ngram_table(documents, vocab_size, max_order=6)  # numpy
    logp = ngram_logprobs(table, suffix, candidates)  # jnp, [..., C]

The counts form a trie in flat arrays. A node is an m-gram seen in the
corpus (m = 1..max_order; the 1-gram nodes are the token ids 0..V-1); the
nodes of each length are sorted by (parent node, last token), so a node's
children, its one-token extensions, are one slice sorted by token, and a
fixed number of binary-search rounds finds a child. Counts are exact (no
hashing) and every lookup is a static-shape gather, so a table passes
through `jax.jit` as an ordinary argument. The bigram level is a sparse
[V, V] count matrix in this layout.

The order-n estimate is the maximum-likelihood p_n(v | c) = C(c v) /
sum_u C(c u) for the last n - 1 tokens c, and 0 for an unseen context. The
smoothed estimate is sum_n lambda_n p_n(v | c_n); Superposed Decoding's
weights (`SPD_WEIGHTS`, orders 2..6) are not normalised.
"""

import functools

import flax.struct
import jax
import numpy as np
from jax import numpy as jnp

# lambda_2 .. lambda_6 of Superposed Decoding's interpolation.
SPD_WEIGHTS = (0.01, 0.04, 0.15, 0.18, 0.12)


@flax.struct.dataclass
class NGramTable:
  """A count trie over node ids 0..num_nodes-1, plus a sentinel entry.

  Attributes:
    tokens: [num_nodes + 1] int32, each node's last token (ascending among
      siblings); the final entry is a sentinel.
    counts: [num_nodes + 1] int32, C(node's m-gram).
    totals: [num_nodes + 1] int32, sum_u C(node's m-gram, u).
    first_child: [num_nodes + 1] int32, node g's children are the nodes
      `first_child[g]:first_child[g + 1]`.
    vocab_size: V.
    max_order: the longest n-gram counted.
  """

  tokens: jax.Array
  counts: jax.Array
  totals: jax.Array
  first_child: jax.Array
  vocab_size: int = flax.struct.field(pytree_node=False)
  max_order: int = flax.struct.field(pytree_node=False)


def build_ngram_table(documents, vocab_size: int,
                      max_order: int = 6) -> NGramTable:
  """Counts the 1..max_order-grams of a corpus with numpy.

  Args:
    documents: one 1-D int array of token ids, or a sequence of them;
      n-grams never cross from one document into the next.
    vocab_size: V; every id must be in [0, V).
    max_order: the longest n-gram counted (>= 2).

  Returns:
    NGramTable.
  """
  if max_order < 2:
    raise ValueError(f"build_ngram_table: max_order must be >= 2, got "
                     f"{max_order}")
  if isinstance(documents, np.ndarray) and documents.ndim == 1:
    documents = [documents]
  docs = [np.asarray(d, np.int64).reshape(-1) for d in documents]
  tokens = np.concatenate(docs) if docs else np.zeros(0, np.int64)
  if tokens.size and (tokens.min() < 0 or tokens.max() >= vocab_size):
    raise ValueError(f"build_ngram_table: token ids must be in [0, "
                     f"vocab_size={vocab_size}), got [{tokens.min()}, "
                     f"{tokens.max()}]")
  lengths = np.array([len(d) for d in docs], np.int64)
  doc_end = np.repeat(np.cumsum(lengths), lengths)  # [N] end of own doc
  position = np.arange(tokens.size)
  # Per level: the nodes' last tokens, counts and parents (level-local).
  levels = [(np.arange(vocab_size), np.bincount(tokens, minlength=vocab_size),
             None)]
  node = tokens  # level-local id of the (n-1)-gram starting at each position
  for n in range(2, max_order + 1):
    at = np.nonzero(position + n <= doc_end)[0]
    keys = node[at] * vocab_size + tokens[at + n - 1]
    unique, inverse, counts = np.unique(keys, return_inverse=True,
                                        return_counts=True)
    levels.append((unique % vocab_size, counts, unique // vocab_size))
    node = np.full(tokens.size, -1, np.int64)
    node[at] = inverse
  offsets = np.cumsum([0] + [len(lv[0]) for lv in levels])
  num_nodes = offsets[-1]
  if num_nodes >= 2**31:
    raise ValueError(f"build_ngram_table: {num_nodes} n-grams exceed int32")
  first_child, totals = [], []
  for m, (last, _, _) in enumerate(levels):
    if m + 1 < len(levels):
      _, counts, parent = levels[m + 1]
      first_child.append(offsets[m + 1] + np.searchsorted(
          parent, np.arange(len(last))))
      totals.append(np.bincount(parent, weights=counts,
                                minlength=len(last)))
    else:
      first_child.append(np.full(len(last), num_nodes))
      totals.append(np.zeros(len(last)))
  as_int32 = lambda parts, last: jnp.asarray(
      np.concatenate(parts + [[last]]), jnp.int32)
  return NGramTable(
      tokens=as_int32([lv[0] for lv in levels], vocab_size),
      counts=as_int32([lv[1] for lv in levels], 0),
      totals=as_int32(totals, 0),
      first_child=as_int32(first_child, num_nodes),
      vocab_size=vocab_size, max_order=max_order)


def _child(table: NGramTable, node, token):
  """Node id of `node` extended by `token` (broadcast), or -1 if unseen.

  Negative `node` or `token` mean unseen / none.
  """
  node, token = jnp.broadcast_arrays(node, token)
  known = node >= 0
  safe = jnp.where(known, node, 0)
  end = table.first_child[safe + 1]

  def halve(_, bounds):
    lo, hi = bounds
    mid = (lo + hi) // 2
    right = table.tokens[mid] < token
    open_ = lo < hi
    return (jnp.where(open_ & right, mid + 1, lo),
            jnp.where(open_ & ~right, mid, hi))

  # Lower bound of `token` among at most V sorted siblings.
  lo, _ = jax.lax.fori_loop(0, table.vocab_size.bit_length(), halve,
                            (table.first_child[safe], end))
  found = known & (lo < end) & (table.tokens[lo] == token) & (token >= 0)
  return jnp.where(found, lo, -1)


def _context_nodes(table: NGramTable, suffix, lengths):
  """Nodes of the last `lengths[l]` tokens of suffix [..., S] -> [..., l]."""
  s = suffix.shape[-1]
  lengths = np.asarray(lengths)
  first = suffix[..., s - lengths]
  node = jnp.where(first >= 0, first, -1)
  for j in range(1, lengths.max()):
    # Lanes whose context is shorter than j + 1 tokens are done.
    token = suffix[..., np.minimum(s - lengths + j, s - 1)]
    node = jnp.where(j < lengths, _child(table, node, token), node)
  return node


def _counts(table: NGramTable, nodes, candidates):
  """[..., l] context nodes, [..., C] -> ([..., l, C] counts, [..., l])."""
  child = _child(table, nodes[..., None], candidates[..., None, :])
  counts = jnp.where(child >= 0, table.counts[child], 0)
  totals = jnp.where(nodes >= 0, table.totals[nodes], 0)
  return counts, totals


@jax.jit
def ngram_counts(table: NGramTable, context, candidates):
  """Counts of `context` followed by each candidate.

  Args:
    table: the NGramTable.
    context: [..., m] int, 1 <= m < max_order (negative ids: none).
    candidates: [..., C] int next tokens.

  Returns:
    ([..., C] int32 C(context v), [...] int32 sum_u C(context u)).
  """
  m = context.shape[-1]
  if not 1 <= m < table.max_order:
    raise ValueError(f"ngram_counts: context must hold 1..{table.max_order - 1}"
                     f" tokens, got shape {context.shape}")
  counts, totals = _counts(table, _context_nodes(table, context, [m]),
                           candidates)
  return counts[..., 0, :], totals[..., 0]


@functools.partial(jax.jit, static_argnames="weights")
def ngram_logprobs(table: NGramTable, suffix, candidates,
                   weights: tuple = SPD_WEIGHTS) -> jax.Array:
  """Interpolated n-gram log-probabilities of candidate next tokens.

  Args:
    table: the NGramTable.
    suffix: [..., S] int, the latest tokens, most recent last (negative
      ids: none, e.g. before the start); S >= max_order - 1.
    candidates: [..., C] int next tokens.
    weights: lambda_2 .. lambda_max_order (a tuple).

  Returns:
    [..., C] f32 log sum_n lambda_n p_n(v | last n - 1 tokens); -inf where
    every order gives 0.
  """
  if len(weights) != table.max_order - 1:
    raise ValueError(f"ngram_logprobs: weights must give orders 2.."
                     f"{table.max_order} ({table.max_order - 1} values), got "
                     f"{len(weights)}")
  if suffix.shape[-1] < table.max_order - 1:
    raise ValueError(f"ngram_logprobs: suffix must hold >= "
                     f"{table.max_order - 1} tokens, got shape "
                     f"{suffix.shape}")
  context_lengths = np.arange(1, table.max_order)  # order n: n - 1 tokens
  nodes = _context_nodes(table, suffix, context_lengths)
  counts, totals = _counts(table, nodes, candidates)
  prob = counts / jnp.maximum(totals, 1)[..., None]  # [..., orders, C]
  return jnp.log(jnp.einsum("...lc,l->...c", prob,
                            jnp.asarray(weights, jnp.float32)))
