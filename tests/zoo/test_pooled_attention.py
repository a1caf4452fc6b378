"""Pooled-query attention: brute force, x = 1, ragged tails, bad pools."""

import jax
import numpy as np
import pytest
from jax import numpy as jnp

from zoo.layers import pooled_attention as pa
from zoo.layers.transformer import Block


def _brute(q, k, v, pool, causal):
  """Per group: the mean of its queries, softmax over the keys it sees."""
  b, length, h, d = q.shape
  hkv = k.shape[2]
  out = np.zeros((b, -(-length // pool), h, d))
  for g in range(out.shape[1]):
    members = range(g * pool, min((g + 1) * pool, length))
    seen = max(members) + 1 if causal else length
    for head in range(h):
      kv = head // (h // hkv)
      query = q[:, list(members), head].mean(1)  # [B, D]
      logits = np.einsum("bd,bsd->bs", query, k[:, :seen, kv]) / np.sqrt(d)
      w = np.exp(logits - logits.max(1, keepdims=True))
      w /= w.sum(1, keepdims=True)
      out[:, g, head] = np.einsum("bs,bsd->bd", w, v[:, :seen, kv])
  return out


@pytest.mark.parametrize("length,pool,causal", [(10, 4, False), (10, 4, True),
                                                (5, 8, True), (6, 1, False)])
def test_pooled_queries_are_the_mean_of_their_members(length, pool, causal):
  rng = np.random.default_rng(length * pool)
  q = rng.normal(size=(2, length, 4, 6)).astype(np.float32)
  k, v = rng.normal(size=(2, 2, length, 2, 6)).astype(np.float32)
  got = pa.pooled_query_attention(jnp.asarray(q), jnp.asarray(k),
                                  jnp.asarray(v), pool, causal)
  assert got.shape == (2, -(-length // pool), 4, 6)
  np.testing.assert_allclose(got, _brute(q, k, v, pool, causal), rtol=1e-4,
                             atol=1e-5)


def test_group_means_keep_the_ragged_tail_and_count_ceil():
  for length in (1, 4, 5, 9):
    for pool in range(1, 6):
      x = np.random.default_rng(length).normal(size=(2, length, 3))
      got = np.asarray(pa.group_means(jnp.asarray(x), pool))
      want = [x[:, i:i + pool].mean(1) for i in range(0, length, pool)]
      assert got.shape[1] == pa.pooled_length(length, pool)
      np.testing.assert_allclose(got, np.stack(want, 1), rtol=1e-5,
                                 atol=1e-6)


@pytest.mark.parametrize("causal", [False, True])
def test_pool_one_block_is_the_plain_block(causal):
  args = dict(num_heads=4, num_kv_heads=2, head_dim=8, mlp_dim=24,
              rope_base=10_000.0, dtype=jnp.float32)
  x = jax.random.normal(jax.random.key(0), (2, 9, 32))
  positions = jnp.broadcast_to(jnp.arange(9), (2, 9))
  mask = jnp.tril(jnp.ones((9, 9), bool)) if causal else jnp.ones((9, 9),
                                                                   bool)
  block = Block(**args)
  params = block.init(jax.random.key(1), x, positions, mask)
  want, _ = block.apply(params, x, positions, mask)
  pooled = pa.PooledBlock(**args, pool=1, causal=causal)
  got = pooled.apply(params, x, positions)  # the same parameters load
  np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
  four = pa.PooledBlock(**args, pool=4, causal=causal).apply(params, x,
                                                             positions)
  assert four.shape == (2, 3, 32) and np.all(np.isfinite(four))


def test_bad_pool_and_shapes_are_named():
  q = jnp.zeros((1, 4, 2, 4))
  for pool in (0, -1, 1.5, True):
    with pytest.raises(ValueError, match="pool"):
      pa.pooled_query_attention(q, q, q, pool)
  with pytest.raises(ValueError, match="k, v"):
    pa.pooled_query_attention(q, q[:, :3], q[:, :3], 2)
  with pytest.raises(ValueError, match="pool"):
    pa.group_means(q, 0)
