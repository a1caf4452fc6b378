"""Lookup-table LMs: exact, instant models for decoding property tests.

A table LM's next-token logits depend only on the current token and, for a
trigram table, the one before it (`logits[tok]` or `logits[prev, tok]`, row
V of the first axis meaning "no previous token"). It speaks
the same interface as `CachedLM` (`init_cache`, `extend` with a query-to-
query mask, `KVCache`-like `commit`), so every decoder runs on it unchanged.
Under a tree mask a node's previous tokens are its visible predecessors with
the highest positions, i.e. its parent and grandparent.
"""

import flax.struct
import jax
from jax import numpy as jnp

from ops.attention import causal_mask, key_mask, write_rows


@flax.struct.dataclass
class TokenCache:
  """tokens, positions: [B, S]; length: [B] int32."""

  tokens: jax.Array
  positions: jax.Array
  length: jax.Array

  @property
  def capacity(self) -> int:
    return self.tokens.shape[1]

  def take(self, index) -> "TokenCache":
    """Rows `index` [B'] of the batch; see KVCache.take."""
    return jax.tree.map(lambda a: jnp.take(a, index, axis=0), self)

  def commit(self, start, path, n) -> "TokenCache":
    """Keeps slots `start + path[:n]` as `start + [0, n)`; see KVCache."""
    def one(c, s, p):
      return jax.lax.dynamic_update_slice_in_dim(
          c, jnp.take(c, s + p, axis=0), s, 0)
    keep = jax.vmap(one)
    # Kept slots move to consecutive positions, as a real cache's would be
    # re-read at their new offsets.
    positions = keep(self.positions, start, path)
    return TokenCache(keep(self.tokens, start, path), positions, start + n)


class TableLM(flax.struct.PyTreeNode):
  """logits: [V, V] (bigram) or [V + 1, V, V] (trigram)."""

  logits: jax.Array

  @property
  def vocab_size(self) -> int:
    return self.logits.shape[-1]

  @property
  def order(self) -> int:
    return self.logits.ndim

  @classmethod
  def random(cls, key, vocab_size: int, order: int = 2,
             temperature: float = 1.0) -> "TableLM":
    """Gaussian logits / temperature; low temperature = low entropy."""
    if order not in (2, 3):
      raise ValueError(f"TableLM: order must be 2 or 3, got {order}")
    shape = (vocab_size + 1,) * (order - 2) + (vocab_size, vocab_size)
    return cls(jax.random.normal(key, shape) / temperature)

  def init_cache(self, batch: int, capacity: int) -> TokenCache:
    zeros = jnp.zeros((batch, capacity), jnp.int32)
    return TokenCache(zeros, zeros, zeros[:, 0])

  def extend(self, tokens, cache: TokenCache, positions=None, qq_mask=None,
             embeddings=None):
    """[B, T] tokens -> ([B, T, V] logits, cache + T); see CachedLM."""
    if embeddings is not None:
      raise ValueError("TableLM has no embeddings; pass tokens")
    b, t = tokens.shape
    if positions is None:
      positions = cache.length[:, None] + jnp.arange(t)
    if qq_mask is None:
      qq_mask = causal_mask(t)
    slots_tok = write_rows(cache.tokens, tokens, cache.length)
    slots_pos = write_rows(cache.positions, positions, cache.length)
    context = [tokens.astype(jnp.int32)]
    if self.order == 3:
      visible = key_mask(cache.length, qq_mask, cache.capacity)  # [B, T, S]
      own = (jnp.arange(cache.capacity)[None, None, :]
             == (cache.length[:, None] + jnp.arange(t))[:, :, None])
      rank = jnp.where(visible & ~own, slots_pos[:, None, :], -1)
      parent = jnp.argmax(rank, axis=-1)  # [B, T]
      found = jnp.max(rank, axis=-1) >= 0
      tok = jnp.take_along_axis(slots_tok, parent, axis=1)
      context.insert(0, jnp.where(found, tok, self.vocab_size))
    logits = self.logits[tuple(context)]
    return logits, TokenCache(slots_tok, slots_pos, cache.length + t)
