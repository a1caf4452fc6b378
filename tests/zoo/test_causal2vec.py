"""Causal2Vec: layout, causality with C, pooling, cuts, loss, bad input."""

import dataclasses
import functools
import math
import types

import jax
import numpy as np
import optax
import pytest
from jax import numpy as jnp

from train import config as config_lib
from train import loop
from train.tasks import causal2vec as task
from zoo.lm import special_tokens
from zoo.lm.decoder import DecoderConfig
from zoo.retrieval import causal2vec
from zoo.retrieval.bert import BertConfig

V, T, MAX = 40, 9, 7
CFG = causal2vec.Causal2VecConfig(
    lm=DecoderConfig(vocab_size=V, embed_dim=16, num_layers=2, num_heads=2,
                     mlp_dim=32),
    encoder=BertConfig(vocab_size=V, hidden=8, layers=1, heads=2,
                       intermediate=16, max_position=MAX),
    max_tokens=MAX)
E = CFG.lm.embed_dim


def _texts(seed, n=4, length=T, lo=1):
  """Right-padded random texts (ids >= 4: no specials), lengths in
  [lo, length]."""
  rng = np.random.default_rng(seed)
  tokens = rng.integers(4, V, (n, length)).astype(np.int32)
  mask = np.arange(length)[None] < rng.integers(lo, length + 1, n)[:, None]
  return np.where(mask, tokens, 0).astype(np.int32), mask


def _model(cfg=CFG, seed=0):
  model = causal2vec.build(cfg)
  tokens, mask = _texts(seed)
  return model, model.init(jax.random.key(seed), tokens, mask)


def _states(model, variables, tokens, mask, context=None):
  return _jit_states(model, variables, jnp.asarray(tokens),
                     jnp.asarray(mask), context)


@functools.partial(jax.jit, static_argnums=0)
def _jit_states(model, variables, tokens, mask, context):
  return model.apply(variables, tokens, mask, context, method="states")


@pytest.mark.parametrize("contextual", [True, False])
def test_layout_matches_a_loop_for_any_alignment_and_cuts(contextual):
  rng = np.random.default_rng(1)
  tokens = rng.integers(4, V, (6, T)).astype(np.int32)
  mask = rng.random((6, T)) < 0.6  # scattered real tokens
  mask[0] = False  # an empty text
  ids, text, lengths = causal2vec.layout(
      jnp.asarray(tokens), jnp.asarray(mask), contextual=contextual,
      max_tokens=MAX)
  for i in range(6):
    kept = list(tokens[i][mask[i]][:MAX])
    slot = [special_tokens.PAD] if contextual else []
    want = [special_tokens.BOS] + slot + kept + [special_tokens.EOS]
    want += [special_tokens.PAD] * (ids.shape[1] - len(want))
    assert list(np.asarray(ids[i])) == want
    assert list(np.asarray(text[i][:len(kept)])) == kept
    assert int(lengths[i]) == len(kept)
  assert ids.shape[1] == 2 + contextual + MAX


def test_with_c_fixed_states_at_t_ignore_later_tokens():
  model, variables = _model()
  tokens, mask = _texts(2, lo=T)  # full rows: every position is real
  context = jax.random.normal(jax.random.key(3), (len(tokens), E))
  base, _, _ = _states(model, variables, tokens, mask, context)
  for j in range(MAX):
    changed = tokens.copy()
    changed[:, j] = 4 + (changed[:, j] - 3) % (V - 4)
    got, _, _ = _states(model, variables, changed, mask, context)
    t = 2 + j  # layout position of text token j
    np.testing.assert_allclose(got[:, :t], base[:, :t], rtol=1e-5,
                               atol=1e-5)
    assert not np.allclose(got[:, t], base[:, t], atol=1e-4)


def test_a_late_token_moves_early_states_through_c_only():
  tokens, mask = _texts(4, lo=T)
  changed = tokens.copy()
  changed[:, MAX - 1] = 4 + (changed[:, MAX - 1] - 3) % (V - 4)  # last kept
  model, variables = _model()
  base, _, _ = _states(model, variables, tokens, mask)
  got, _, _ = _states(model, variables, changed, mask)
  for t in (1, 2):  # C, then the first text token
    assert np.abs(np.asarray(got[:, t] - base[:, t])).max() > 1e-4
  baseline, b_vars = _model(causal2vec.baseline_config(CFG))
  base, _, _ = _states(baseline, b_vars, tokens, mask)
  got, _, _ = _states(baseline, b_vars, changed, mask)
  np.testing.assert_allclose(got[:, :MAX], base[:, :MAX], rtol=1e-5,
                             atol=1e-5)


def _unit(x):
  return x / np.linalg.norm(x, axis=-1, keepdims=True)


def test_pooling_reads_c_and_eos_under_right_and_left_padding():
  model, variables = _model()
  tokens, mask = _texts(5)
  states, eos, lengths = _states(model, variables, tokens, mask)
  states = np.asarray(states)
  rows = np.arange(len(tokens))
  h_c, h_eos = states[:, 1], states[rows, np.asarray(eos)]
  np.testing.assert_array_equal(np.asarray(eos), 2 + np.minimum(
      mask.sum(1), MAX))
  want = {"concat": _unit(np.concatenate([h_c, h_eos], -1)),
          "contextual": _unit(h_c), "eos": _unit(h_eos)}
  # Left padding: each row's real tokens moved to the end.
  left = np.zeros_like(tokens)
  left_mask = np.zeros_like(mask)
  for i, n in enumerate(mask.sum(1)):
    left[i, T - n:], left_mask[i, T - n:] = tokens[i, :n], True
  for pool, vectors in want.items():
    for ids, m in ((tokens, mask), (left, left_mask)):
      got = model.apply(variables, jnp.asarray(ids), jnp.asarray(m), pool,
                        method="encode")
      assert got.shape == (len(tokens), (2 if pool == "concat" else 1) * E)
      np.testing.assert_allclose(got, vectors, rtol=1e-4, atol=1e-5)
  assert lengths.shape == (len(tokens),)


def test_over_long_texts_are_cut_and_empty_texts_embed_as_zero():
  model, variables = _model()
  tokens, mask = _texts(6, lo=T)
  mask[0] = False
  got = np.asarray(model.apply(variables, tokens, mask))
  assert np.all(np.isfinite(got)) and np.all(got[0] == 0)
  cut = np.asarray(model.apply(variables, tokens[:, :MAX], mask[:, :MAX]))
  np.testing.assert_allclose(got, cut, rtol=1e-5, atol=1e-6)
  np.testing.assert_allclose(np.linalg.norm(got[1:], axis=-1), 1.0,
                             rtol=1e-5)


def test_default_light_encoder_is_at_most_15_percent_of_the_lm():
  cfg = causal2vec.Causal2VecConfig()
  model = causal2vec.build(cfg)
  ids = jnp.zeros((1, 8), jnp.int32)
  shapes = jax.eval_shape(lambda: model.init(jax.random.key(0), ids,
                                             ids > 0))["params"]
  count = lambda tree: sum(math.prod(x.shape) for x in jax.tree.leaves(tree))
  lm = count(shapes["lm"])
  light = count({k: v for k, v in shapes.items() if k != "lm"})
  assert 2.0e6 < lm < 2.4e6
  assert light <= 0.15 * lm


def test_principal_rows_are_the_top_principal_coordinates():
  table = np.random.default_rng(7).normal(size=(60, 12)) * np.linspace(
      3, 0.5, 12)
  got = causal2vec.principal_rows(table, 4)
  centred = table - table.mean(0)
  values, vectors = np.linalg.eigh(centred.T @ centred)
  want = centred @ vectors[:, ::-1][:, :4]
  np.testing.assert_allclose(np.abs(got), np.abs(want), rtol=1e-4,
                             atol=1e-4)
  gram = got.T @ got
  np.testing.assert_allclose(gram - np.diag(np.diag(gram)), 0, atol=1e-3)


def test_loss_is_symmetric_infonce_at_the_temperature():
  model, variables = _model()
  q, q_mask = _texts(8)
  d, d_mask = _texts(9)
  inputs = {"query": q, "query_mask": q_mask, "code": d, "code_mask": d_mask}
  got, (stats, _) = task.loss(model, variables, inputs, None)
  qv = np.asarray(model.apply(variables, q, q_mask))
  dv = np.asarray(model.apply(variables, d, d_mask))
  logits = qv @ dv.T / CFG.temperature
  labels = np.arange(len(q))
  ce = lambda x: float(np.mean(
      optax.softmax_cross_entropy_with_integer_labels(jnp.asarray(x),
                                                      jnp.asarray(labels))))
  assert float(got) == pytest.approx((ce(logits) + ce(logits.T)) / 2,
                                     rel=1e-4)
  assert float(stats["in_batch_accuracy"]) == pytest.approx(
      np.mean(np.argmax(logits, 1) == labels))


class _Encoding:
  def __init__(self, ids):
    self.ids = ids


class _Tokenizer:
  """Whitespace-separated integers are the ids."""

  def encode_batch(self, texts):
    return [_Encoding([int(w) for w in t.split()]) for t in texts]


def test_encode_texts_equals_one_call_per_text_in_input_order():
  model, variables = _model()
  rng = np.random.default_rng(10)
  texts = [" ".join(map(str, rng.integers(4, V, n))) for n in
           rng.integers(0, 12, 70)]
  encode = jax.jit(lambda ids, m: model.apply(variables, ids, m))
  got = causal2vec.encode_texts(encode, _Tokenizer(), texts, MAX)
  ids, mask = causal2vec.token_ids(_Tokenizer(), texts, MAX)
  np.testing.assert_allclose(got, np.asarray(encode(ids, mask)),
                             rtol=1e-4, atol=1e-5)


def test_bad_input_is_named():
  model, variables = _model()
  tokens, mask = _texts(11)
  with pytest.raises(ValueError, match="pool"):
    model.apply(variables, tokens, mask, "mean", method="encode")
  baseline, b_vars = _model(causal2vec.baseline_config(CFG))
  with pytest.raises(ValueError, match="pool"):
    baseline.apply(b_vars, tokens, mask, "concat", method="encode")
  with pytest.raises(ValueError, match="texts"):
    causal2vec.token_ids(_Tokenizer(), "1 2 3")
  with pytest.raises(ValueError, match="max_tokens"):
    causal2vec.token_ids(_Tokenizer(), ["1 2"], 0)
  with pytest.raises(ValueError, match="vocab_size"):
    dataclasses.replace(CFG, encoder=dataclasses.replace(CFG.encoder,
                                                         vocab_size=V + 1))
  with pytest.raises(ValueError, match="temperature"):
    dataclasses.replace(CFG, temperature=float("nan"))
  with pytest.raises(ValueError, match="max_tokens"):
    dataclasses.replace(CFG, max_tokens=MAX + 1)


def test_smoke_config_trains_and_its_run_ranks_texts(tmp_path):
  cfg = config_lib.load_config("causal2vec.py:smoke")
  summary = loop.run(cfg, tmp_path, devices=jax.devices()[:1])
  assert summary["step"] == cfg.steps and np.isfinite(summary["train_loss"])
  rank = task.ranker_for("stdlib_code_search", str(tmp_path))
  texts = types.SimpleNamespace(
      queries=["Return the sum of a and b.", ""],
      docs=["def add(a, b):\n  return a + b", "x = 1", ""])
  top = rank(texts)
  assert top.shape == (2, 3)
  assert all(sorted(row) == [0, 1, 2] for row in top)
