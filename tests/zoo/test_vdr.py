"""VDR: vocabulary vectors, inference masks, explanations and the semi loss."""

import dataclasses

import jax
import numpy as np
import optax
import pytest
from jax import numpy as jnp

from zoo.retrieval import vdr

H, V = 16, 50


def _states(seed, n=5, length=7):
  rng = np.random.default_rng(seed)
  states = rng.normal(size=(n, length, H)).astype(np.float32)
  mask = np.arange(length)[None] < rng.integers(1, length + 1, n)[:, None]
  vocab = rng.normal(size=(V, H)).astype(np.float32)
  return np.where(mask[..., None], states, 0).astype(np.float32), mask, vocab


def test_vectors_are_positive_before_masking_and_match_numpy():
  states, mask, vocab = _states(0)
  got = vdr.passage_vectors(states, mask, vocab)
  assert got.shape == (5, V) and np.all(got > 0)
  for i in range(5):
    h = states[i][mask[i]]
    h = (h - h.mean(-1, keepdims=True)) / np.sqrt(h.var(-1, keepdims=True)
                                                  + 1e-12)
    logits = h @ vocab.T
    want = np.where(logits > 0, logits + 1, np.exp(logits)).max(0)
    np.testing.assert_allclose(got[i], want, rtol=1e-4, atol=1e-5)


def test_untrained_query_encoder_is_the_passage_encoder():
  states, mask, vocab = _states(1)
  model = vdr.VDRQueryEncoder(vdr.VDRConfig(hidden=H))
  params = model.init(jax.random.key(0), states, mask, vocab)
  np.testing.assert_allclose(model.apply(params, states, mask, vocab),
                             vdr.passage_vectors(states, mask, vocab),
                             rtol=1e-4, atol=1e-5)
  dense = vdr.VDRQueryEncoder(dataclasses.replace(vdr.dense_config(),
                                                  hidden=H))
  dense_params = dense.init(jax.random.key(0), states, mask, vocab)
  pooled = np.asarray(dense.apply(dense_params, states, mask, vocab))
  mean = states.sum(1) / mask.sum(1, keepdims=True)
  np.testing.assert_allclose(
      pooled, mean / np.linalg.norm(mean, axis=-1, keepdims=True),
      rtol=1e-5, atol=1e-6)


class _Tokenizer:
  """`encoder.tokenize` and `config.vocab_size` of a fake encoder."""

  config = type("Config", (), {"vocab_size": vdr.VOCAB_OFFSET + V})

  def tokenize(self, texts):
    ids = [[int(w) for w in t.split()] for t in texts]
    width = max(map(len, ids))
    out = np.zeros((len(ids), width), np.int32)
    for i, row in enumerate(ids):
      out[i, :len(row)] = row
    return {"input_ids": out,
            "attention_mask": (np.arange(width)[None] < np.array(
                [len(r) for r in ids])[:, None]).astype(np.int32)}


def test_bag_of_words_is_the_id_set_minus_999():
  texts = ["101 1000 1003 1003 102", "101 999 1048 5 102", "101 102"]
  bow = vdr.bag_of_words(_Tokenizer(), texts)
  for text, row in zip(texts, bow):
    want = {int(w) - 999 for w in text.split() if 999 <= int(w) < 999 + V}
    assert set(np.flatnonzero(row)) == want


def test_inference_keeps_topk_or_own_words_and_explain_sums_to_score():
  rng = np.random.default_rng(2)
  q, d = rng.random((3, V), np.float32), rng.random((4, V), np.float32)
  q_bow = (rng.random((3, V)) < 0.1).astype(np.float32)
  d_bow = (rng.random((4, V)) < 0.1).astype(np.float32)
  keep = np.asarray(vdr.inference_mask(q, q_bow, 5))
  assert np.all(keep.sum(1) >= 5)
  assert np.all(keep[q_bow > 0])
  scores = vdr.scores(q, q_bow, d, d_bow, k=5)
  d_keep = np.asarray(vdr.inference_mask(d, d_bow, 5))
  words = [f"w{i}" for i in range(V)]
  for i in range(3):
    for n in range(4):
      qi, dn = np.where(keep[i], q[i], 0), np.where(d_keep[n], d[n], 0)
      parts = vdr.explain(qi, dn, words, top=V)
      assert sum(c for _, c in parts) == pytest.approx(scores[i, n],
                                                       rel=1e-5)
      assert [c for _, c in parts] == sorted((c for _, c in parts),
                                             reverse=True)


def _ce(logits, labels):
  return np.mean(optax.softmax_cross_entropy_with_integer_labels(
      jnp.asarray(logits), jnp.asarray(labels)))


@pytest.mark.parametrize("symmetric", [False, True])
def test_semi_loss_is_the_mean_of_its_four_terms(symmetric):
  rng = np.random.default_rng(3)
  q, p = rng.random((4, V), np.float32), rng.random((4, V), np.float32)
  q_bow = (rng.random((4, V)) < 0.2).astype(np.float32)
  p_bow = (rng.random((4, V)) < 0.2).astype(np.float32)
  labels = np.arange(4) if symmetric else np.array([2, 0, 3, 3])

  def top(x):
    cut = np.sort(x, axis=1)[:, -6][:, None]
    return np.where(x >= cut, x, 0)

  terms = []
  for a, b in ((top(q), p), (q, top(p)), (q_bow, p), (q, p_bow)):
    s = a @ b.T / 2.0
    term = _ce(s, labels)
    if symmetric:
      term = (term + _ce(s.T, labels)) / 2
    terms.append(term)
  got = vdr.semi_loss(q, q_bow, p, p_bow, labels, k=6, temperature=2.0,
                      symmetric=symmetric)
  assert float(got) == pytest.approx(np.mean(terms), rel=1e-5)


def test_bad_config_is_named():
  with pytest.raises(ValueError, match="head"):
    vdr.VDRConfig(head="cls")
  with pytest.raises(ValueError, match="temperature"):
    vdr.VDRConfig(temperature=float("nan"))
