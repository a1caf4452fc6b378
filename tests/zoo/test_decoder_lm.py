"""The decoder LM and table LMs: caches agree with full forward passes."""

import jax
import numpy as np
import pytest
from jax import numpy as jnp

from ops.decoding import DecodingModel, tree
from zoo.errors import ConfigError
from zoo.lm.decoder import CachedLM, DecoderConfig, DecoderLM
from zoo.lm.table import TableLM

CFG = DecoderConfig(vocab_size=37, embed_dim=32, num_layers=2, num_heads=4,
                    num_kv_heads=2, mlp_dim=48)


@pytest.fixture(scope="module")
def lm():
  model = DecoderLM(CFG)
  tokens = jnp.zeros((1, 4), jnp.int32)
  return CachedLM(model.init(jax.random.key(0), tokens)["params"], model)


def test_chunked_cache_equals_full_forward(lm):
  tokens = jax.random.randint(jax.random.key(1), (3, 11), 0, CFG.vocab_size)
  full = lm(tokens)
  cache = lm.init_cache(3, 16)
  parts = []
  for lo, hi in ((0, 4), (4, 5), (5, 11)):
    logits, cache = lm.extend(tokens[:, lo:hi], cache)
    parts.append(logits)
  np.testing.assert_allclose(np.concatenate(parts, 1), full, atol=2e-5)
  assert np.all(np.asarray(cache.length) == 11)


def test_tree_forward_equals_each_root_path_forward(lm):
  """A node's logits under the ancestor mask = its path's plain forward."""
  prefix = jax.random.randint(jax.random.key(2), (1, 5), 0, CFG.vocab_size)
  parent = jnp.array([-1, 0, 0, 1, 1, 2, 5])
  nodes = jax.random.randint(jax.random.key(3), (1, 7), 0, CFG.vocab_size)
  cache = lm.init_cache(1, 16)
  _, cache = lm.extend(prefix, cache)
  logits, _ = lm.extend(nodes, cache, positions=5 + tree.depth(parent)[None],
                        qq_mask=tree.ancestor_mask(parent))
  for node in range(7):
    path = np.flatnonzero(np.asarray(tree.ancestor_mask(parent))[node])
    seq = jnp.concatenate([prefix, nodes[:, path]], axis=1)
    np.testing.assert_allclose(logits[0, node], lm(seq)[0, -1], atol=2e-5)


def test_commit_keeps_the_accepted_slots(lm):
  prefix = jax.random.randint(jax.random.key(4), (2, 3), 0, CFG.vocab_size)
  nodes = jax.random.randint(jax.random.key(5), (2, 4), 0, CFG.vocab_size)
  parent = jnp.array([-1, 0, 0, 2])
  cache = lm.init_cache(2, 12)
  _, cache = lm.extend(prefix, cache)
  start = cache.length
  _, cache = lm.extend(nodes, cache, positions=3 + tree.depth(parent)[None],
                       qq_mask=tree.ancestor_mask(parent))
  path = jnp.array([[0, 2, 3, 3], [0, 1, 1, 1]])
  n = jnp.array([3, 2])
  cache = cache.commit(start, path, n)
  nxt = jnp.array([[7], [8]])
  logits, _ = lm.extend(nxt, cache)
  for row in range(2):
    kept = nodes[row, path[row, :n[row]]]
    seq = jnp.concatenate([prefix[row], kept, nxt[row]])[None]
    np.testing.assert_allclose(logits[row, 0], lm(seq)[0, -1], atol=2e-5)


def test_take_selects_rows(lm):
  tokens = jax.random.randint(jax.random.key(6), (3, 5), 0, CFG.vocab_size)
  cache = lm.init_cache(3, 8)
  _, cache = lm.extend(tokens, cache)
  picked = cache.take(jnp.array([2, 2, 0]))
  logits, _ = lm.extend(jnp.ones((3, 1), jnp.int32), picked)
  ref, _ = lm.extend(jnp.ones((3, 1), jnp.int32), cache)
  np.testing.assert_allclose(logits, ref[jnp.array([2, 2, 0])], atol=1e-6)


def test_bad_configs_are_refused():
  with pytest.raises(ConfigError, match="num_kv_heads"):
    DecoderConfig(num_heads=4, num_kv_heads=3)
  with pytest.raises(ConfigError, match="heads of even width"):
    DecoderConfig(embed_dim=30, num_heads=2)


@pytest.mark.parametrize("order", [2, 3])
def test_table_lm_reads_its_table(order):
  lm = TableLM.random(jax.random.key(7), 6, order=order)
  tokens = jnp.array([[1, 4, 2, 5, 0]])
  logits, _ = lm.extend(tokens, lm.init_cache(1, 8))
  for i in range(5):
    row = (lm.logits[tokens[0, i]] if order == 2 else
           lm.logits[tokens[0, i - 1] if i else 6, tokens[0, i]])
    np.testing.assert_array_equal(logits[0, i], row)


def test_table_lm_under_a_tree_sees_the_parent():
  lm = TableLM.random(jax.random.key(8), 6, order=3)
  cache = lm.init_cache(1, 8)
  _, cache = lm.extend(jnp.array([[3, 1]]), cache)
  parent = jnp.array([-1, 0, 0, 2])
  nodes = jnp.array([[4, 5, 2, 0]])
  logits, _ = lm.extend(nodes, cache, positions=2 + tree.depth(parent)[None],
                        qq_mask=tree.ancestor_mask(parent))
  for node, prev in ((0, 1), (1, 4), (2, 4), (3, 2)):
    np.testing.assert_array_equal(logits[0, node],
                                  lm.logits[prev, nodes[0, node]])


def test_both_models_are_decoding_models(lm):
  table = TableLM.random(jax.random.key(0), vocab_size=11)
  for model in (lm, table):
    assert isinstance(model, DecodingModel)
    cache = model.init_cache(batch=2, capacity=8)
    logits, cache = model.extend(jnp.ones((2, 3), jnp.int32), cache)
    assert logits.shape == (2, 3, model.vocab_size)
    np.testing.assert_array_equal(cache.length, [3, 3])
  assert not isinstance(object(), DecodingModel)
