"""DupMAE: the bag-of-words loss, the OT pooling mask, the [CLS] bottleneck,
the vector and its bad input, and a smoke run that ranks texts."""

import dataclasses

import jax
import numpy as np
import pytest
from jax import numpy as jnp

from train import config as config_lib
from train import loop
from train.tasks import dupmae as task
from zoo.errors import ConfigError
from zoo.lm import special_tokens
from zoo.retrieval import dupmae

V, L = 40, 9
TINY = dupmae.DupMAEConfig(vocab_size=V, hidden=16, heads=2, intermediate=32,
                           max_length=L, topk=6)


def _batch(seed, n=4):
  """Random ids [n, L] (<bos> first) with ragged real lengths >= 2."""
  rng = np.random.default_rng(seed)
  ids = rng.integers(len(special_tokens.NAMES), V, (n, L)).astype(np.int32)
  ids[:, 0] = special_tokens.BOS
  mask = np.arange(L)[None] < rng.integers(2, L + 1, n)[:, None]
  return jnp.asarray(np.where(mask, ids, 0)), jnp.asarray(mask)


def _model(seed=0, cfg=TINY):
  model = dupmae.DupMAE(cfg)
  ids, mask = _batch(seed)
  return model, model.init(jax.random.key(seed), ids, mask, ids)


def test_bow_loss_gradient_is_softmax_minus_weights():
  rng = np.random.default_rng(0)
  z = jnp.asarray(rng.normal(size=(3, V)) * 4, jnp.float32)
  w = rng.random((3, V)) * (rng.random((3, V)) < 0.3)
  w = jnp.asarray(w / w.sum(-1, keepdims=True), jnp.float32)
  grad = jax.grad(lambda z: dupmae.bow_loss(z, w).sum())(z)
  np.testing.assert_allclose(grad, jax.nn.softmax(z, -1) - w, atol=1e-6)
  # And the loss itself against numpy.
  zn = np.asarray(z, np.float64)
  log_p = zn - zn.max(-1, keepdims=True)
  log_p -= np.log(np.exp(log_p).sum(-1, keepdims=True))
  np.testing.assert_allclose(dupmae.bow_loss(z, w), -(w * log_p).sum(-1),
                             rtol=1e-5)


def test_bow_weights_are_the_normalised_set_of_ids():
  ids, mask = _batch(1)
  w = np.asarray(dupmae.bow_weights(ids, mask, V))
  for row, m, got in zip(np.asarray(ids), np.asarray(mask), w):
    want = np.zeros(V)
    want[sorted(set(row[m]))] = 1
    np.testing.assert_allclose(got, want / want.sum(), rtol=1e-6)


def test_padding_logits_never_reach_z():
  rng = np.random.default_rng(2)
  logits = rng.normal(size=(4, L, V)).astype(np.float32)
  _, mask = _batch(2)
  mask = np.asarray(mask)
  z = np.asarray(dupmae.ot_pool(jnp.asarray(logits), jnp.asarray(mask)))
  for big in (1e4, 1e30, np.inf, np.nan):
    padded = np.where(mask[..., None], logits, big).astype(np.float32)
    np.testing.assert_array_equal(
        dupmae.ot_pool(jnp.asarray(padded), jnp.asarray(mask)), z)
  for i in range(4):  # brute force: the max over real tokens
    np.testing.assert_array_equal(z[i], logits[i][mask[i]].max(0))


def test_padding_ids_do_not_change_the_vector():
  model, variables = _model()
  ids, mask = _batch(3)
  other = jnp.where(mask, ids, 7)  # padding now holds an ordinary id
  for a, b in zip(model.apply(variables, ids, mask, method="represent"),
                  model.apply(variables, other, mask, method="represent")):
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_fully_masked_decoder_reads_only_h_cls():
  model, variables = _model(4)
  ids, mask = _batch(4)
  states = model.apply(variables, ids, mask)[0]
  context = jnp.where(dupmae.ordinary_tokens(mask), special_tokens.MASK, ids)

  def decoder_loss(states):
    logits = model.apply(variables, states, context, mask, method="decode")
    return dupmae.masked_cross_entropy(logits, ids,
                                       dupmae.ordinary_tokens(mask))

  grad = np.asarray(jax.grad(decoder_loss)(states))
  assert np.all(grad[:, 1:] == 0)  # exactly: no path from h_1.. h_L
  assert np.all(np.abs(grad[:, 0]).sum(-1) > 0)
  # Any other encoder states with the same h_cls give the same loss.
  noise = jax.random.normal(jax.random.key(0), states.shape)
  assert decoder_loss(states.at[:, 1:].add(noise[:, 1:])) == decoder_loss(
      states)


def test_masking_picks_only_ordinary_tokens_at_the_rate():
  ids = jnp.full((64, 96), 100, jnp.int32).at[:, 0].set(special_tokens.BOS)
  mask = jnp.arange(96)[None] < jnp.arange(64)[:, None] + 30
  masked, picked = dupmae.mask_tokens(jax.random.key(0), ids, mask, 0.3,
                                      vocab_size=V, bert_style=True)
  picked, masked = np.asarray(picked), np.asarray(masked)
  assert not picked[:, 0].any() and not picked[~np.asarray(mask)].any()
  np.testing.assert_array_equal(masked[~picked], np.asarray(ids)[~picked])
  share = picked.sum() / (np.asarray(mask).sum() - 64)
  assert abs(share - 0.3) < 0.02
  to_mask = (masked[picked] == special_tokens.MASK).mean()
  assert abs(to_mask - 0.8) < 0.03
  _, all_picked = dupmae.mask_tokens(jax.random.key(1), ids, mask, 1.0,
                                     vocab_size=V, bert_style=False)
  np.testing.assert_array_equal(all_picked, dupmae.ordinary_tokens(mask))


def test_vector_parts_and_scores():
  rng = np.random.default_rng(5)
  h_cls = jnp.asarray(rng.normal(size=(3, 16)), jnp.float32)
  ot = jnp.asarray(np.maximum(rng.normal(size=(3, V)), 0), jnp.float32)
  both = np.asarray(dupmae.combine(h_cls, ot, 6))
  cls, sparse_part = (np.asarray(dupmae.combine(h_cls, ot, 6, p))
                      for p in ("cls", "ot"))
  np.testing.assert_array_equal(both, np.concatenate([cls, sparse_part], 1))
  np.testing.assert_allclose(np.linalg.norm(cls, axis=1), 1, rtol=1e-6)
  np.testing.assert_allclose(np.linalg.norm(sparse_part, axis=1), 1,
                             rtol=1e-6)
  assert np.all((sparse_part > 0).sum(1) <= 6)
  for row, got in zip(np.asarray(ot), sparse_part):  # the 6 largest kept
    keep = np.argsort(-row, kind="stable")[:6]
    np.testing.assert_allclose(got[keep], row[keep] / np.linalg.norm(
        row[keep]), rtol=1e-5)
  # The full score is the sum of the two parts' scores.
  np.testing.assert_allclose(both @ both.T, cls @ cls.T
                             + sparse_part @ sparse_part.T, rtol=1e-5)


def test_empty_text_is_the_zero_vector():
  model, variables = _model(cfg=dataclasses.replace(TINY, vocab_size=2048))
  ids, mask = dupmae.tokenize(task.tokenizer(), ["", "def f(x): return x"],
                              L)
  h_cls, mean, ot = dupmae.encode(model, variables, ids, mask)
  vec = np.asarray(dupmae.combine(h_cls, ot, TINY.topk))
  assert np.all(vec[0] == 0) and np.all(np.isfinite(vec))
  assert np.all(mean[0] == 0) and np.abs(vec[1]).sum() > 0


def test_bad_input_is_named():
  with pytest.raises(ValueError, match="texts"):
    dupmae.tokenize(task.tokenizer(), "one string", L)
  for bad in (0, V + 1):
    with pytest.raises(ValueError, match="k"):
      dataclasses.replace(TINY, topk=bad)
  for field in ("bow_weight", "decoder_weight"):
    with pytest.raises(ValueError, match=field):
      dataclasses.replace(TINY, **{field: float("nan")})
  with pytest.raises(ValueError, match="part"):
    dupmae.combine(jnp.ones((1, 4)), jnp.ones((1, V)), 2, "sum")
  with pytest.raises(ConfigError, match="unknown"):
    config_lib.load_config("dupmae.py:smoke,pool=mean")


def test_mlm_only_trains_only_mlm():
  ids, mask = _batch(6)
  for cfg, parts in ((TINY, {"mlm", "decoder", "bow"}),
                     (dupmae.mlm_only_config(**{
                         f.name: getattr(TINY, f.name) for f in
                         dataclasses.fields(TINY) if f.name not in (
                             "decoder_weight", "bow_weight")}), {"mlm"})):
    model, variables = _model(6, cfg)
    total, got = task.objective(model, variables, ids, mask,
                                jax.random.key(0))
    assert set(got) == parts
    np.testing.assert_allclose(total, got["mlm"] + sum(
        got[p] for p in parts - {"mlm"}), rtol=1e-6)


def test_smoke_config_trains_and_ranks_from_text(tmp_path):
  cfg = config_lib.load_config("dupmae.py:smoke")
  assert cfg.steps <= 50
  summary = loop.run(cfg, tmp_path, devices=jax.devices()[:1])
  assert np.isfinite(summary["train_loss"])
  texts = type("Texts", (), {
      "queries": ["Return the sum of a and b.", ""],
      "docs": ["def add(a, b):\n  return a + b", "class A:\n  pass", ""]})
  top = task.ranker_for("stdlib_code_search", str(tmp_path))(texts)
  assert top.shape == (2, 3)
  for row in top:
    assert sorted(row) == [0, 1, 2]
