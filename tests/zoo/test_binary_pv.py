"""Binary PV and DSG: the straight-through gradient, Hamming search against
brute force, stable re-inference, Real-Binary re-ranking, and DSG with one
sense being skip-gram exactly."""

from collections import Counter

import jax
import numpy as np
import pytest
from jax import numpy as jnp

from eval.claims import binary_pv as claim
from ops import hamming
from zoo.vq import binary_pv


def _topic_docs(seed=0, topics=4, per_topic=30, length=25, words=15):
  """Documents of topic-specific words plus shared ones: [word ids]."""
  rng = np.random.default_rng(seed)
  shared = topics * words
  docs, labels = [], []
  for t in range(topics):
    for _ in range(per_topic):
      own = rng.integers(t * words, (t + 1) * words, size=length)
      common = rng.integers(shared, shared + 10, size=length // 5)
      docs.append(np.concatenate([own, common]))
      labels.append(t)
  return docs, np.array(labels), shared + 10


def test_binarize_is_round_sigmoid_with_sigmoid_prime_gradient():
  d = jnp.asarray(np.random.default_rng(0).normal(size=(6, 9)) * 3,
                  jnp.float32)
  upstream = jnp.asarray(np.random.default_rng(1).normal(size=(6, 9)),
                         jnp.float32)
  b = binary_pv.binarize(d)
  np.testing.assert_array_equal(b, (d > 0).astype(np.float32))
  grad = jax.grad(lambda x: jnp.sum(binary_pv.binarize(x) * upstream))(d)
  s = jax.nn.sigmoid(d)
  np.testing.assert_allclose(grad, s * (1 - s) * upstream, rtol=1e-6)


@pytest.fixture(scope="module")
def trained():
  docs, labels, vocab = _topic_docs()
  cfg = binary_pv.PVConfig(bits=32, epochs=40, batch=512, infer_epochs=60)
  return docs, labels, binary_pv.fit(docs, vocab, cfg, jax.random.key(0))


def test_negatives_follow_the_table_and_skip_unseen_words():
  counts = np.array([5.0, 0.0, 1.0, 0.0, 12.0, 2.0])
  log_probs = jnp.log(jnp.asarray(counts / counts.sum(), jnp.float32))
  ids = np.asarray(binary_pv.draw_negatives(
      jax.random.key(3), jnp.cumsum(jnp.exp(log_probs)), (400, 500)))
  freq = np.bincount(ids.ravel(), minlength=counts.size) / ids.size
  assert freq[1] == freq[3] == 0
  # 200k draws: the binomial standard error is below 0.0012 per id.
  np.testing.assert_allclose(freq, counts / counts.sum(), atol=0.005)


def test_reinferred_codes_agree_on_most_bits(trained):
  docs, labels, model = trained
  again = model.infer(docs[:40], jax.random.key(7))
  bits = lambda packed: np.asarray(hamming.unpack_bits(packed, 32))
  agree = np.mean(bits(model.codes(again)) == bits(model.codes())[:40])
  assert agree >= 0.9
  # The codes carry the topics: same-topic neighbours dominate.
  found = np.asarray(binary_pv.hamming_search(model, again, 10))
  assert np.mean(labels[found] == labels[:40, None]) > 0.8


def test_hamming_search_equals_brute_force(trained):
  _, _, model = trained
  queries = {"d": jax.random.normal(jax.random.key(3), (9, 32))}
  found = np.asarray(binary_pv.hamming_search(model, queries, 7))
  q = np.asarray(queries["d"]) > 0
  db = np.asarray(model.docs["d"]) > 0
  dist = (q[:, None] != db[None]).sum(-1)
  np.testing.assert_array_equal(
      found, np.argsort(dist, axis=1, kind="stable")[:, :7])


def test_real_binary_reranks_a_training_doc_to_itself():
  docs, _, vocab = _topic_docs(seed=1, per_topic=10)
  cfg = binary_pv.PVConfig(bits=16, real_dim=24, epochs=20, batch=512)
  model = binary_pv.fit(docs, vocab, cfg, jax.random.key(1))
  own = {"r": model.docs["r"][:12]}
  found = np.asarray(binary_pv.real_binary_search(model, own, 3,
                                                  shortlist=20))
  np.testing.assert_array_equal(found[:, 0], np.arange(12))
  with pytest.raises(ValueError, match="k <= shortlist"):
    binary_pv.real_binary_search(model, own, 30, shortlist=20)


def test_empty_document_is_a_clear_error():
  with pytest.raises(ValueError, match="document 1 is empty"):
    binary_pv.fit([np.array([0, 1]), np.array([], np.int64)], 3,
                  binary_pv.PVConfig(), jax.random.key(0))


def _dsg_batch(cfg, vocab=30, batch=8):
  rng = np.random.default_rng(0)
  params = binary_pv.dsg_init(jax.random.key(0), vocab, cfg)
  centres = jnp.asarray(rng.integers(0, vocab, batch))
  contexts = jnp.asarray(rng.integers(0, vocab, (batch, 2 * cfg.window)))
  mask = jnp.asarray(rng.random((batch, 2 * cfg.window)) < 0.8)
  negatives = jnp.asarray(rng.integers(
      0, vocab, (batch, 2 * cfg.window, cfg.negatives)))
  return params, centres, contexts, mask, negatives


def test_dsg_with_one_sense_is_skip_gram():
  cfg = binary_pv.DSGConfig(senses=1, dim=6, window=2)
  params, centres, contexts, mask, neg = _dsg_batch(cfg)
  loss = jax.jit(lambda p: jnp.sum(binary_pv.dsg_loss(
      p, centres, contexts, mask, neg, 0.3)))
  sgns = jax.jit(lambda p: jnp.sum(binary_pv.sgns_loss(
      p["sense"][centres, 0], p["out"], contexts, mask, neg)))
  np.testing.assert_allclose(loss(params), sgns(params), rtol=1e-6)
  g_dsg, g_sgns = jax.jit(jax.grad(loss))(params), jax.jit(jax.grad(sgns))(
      params)
  for name in ("sense", "out"):
    np.testing.assert_allclose(g_dsg[name], g_sgns[name], rtol=1e-5,
                               atol=1e-7)


def test_dsg_sense_probabilities_and_gradients():
  cfg = binary_pv.DSGConfig(senses=3, dim=6, window=2)
  params, centres, contexts, mask, neg = _dsg_batch(cfg)
  p = jax.jit(binary_pv.sense_probs)(params, centres, contexts, mask)
  np.testing.assert_allclose(jnp.sum(p, -1), 1.0, rtol=1e-6)
  grads = jax.jit(jax.grad(lambda q: jnp.sum(binary_pv.dsg_loss(
      q, centres, contexts, mask, neg, 0.1))))(params)
  for name, g in grads.items():
    assert np.any(np.asarray(g) != 0), name


def test_pseudo_word_rule_pairs_close_frequencies():
  counts = Counter({f"w{i:03d}": 1000 - i for i in range(100)})
  counts.update({"alpha": 90, "bravo": 80, "charlie": 30, "delta": 25,
                 "echo": 24, "foxtrot": 10, "golf": 7, "hotel": 6,
                 "india": 5, "juliet": 4, "kilo": 3, "x1": 50, "ab": 40})
  pairs = claim.pseudo_word_pairs(counts)
  assert pairs[:2] == [("alpha", "bravo"), ("charlie", "delta")]
  words = [w for p in pairs for w in p]
  assert len(words) == len(set(words))
  assert all(counts[a] <= claim.MAX_RATIO * counts[b] for a, b in pairs)
  assert not {"x1", "ab"} & set(words)
