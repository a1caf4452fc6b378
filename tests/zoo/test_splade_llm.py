"""splade_llm: echo pooling, the tied-head vectors, FLOPS and a smoke run."""

import dataclasses

import jax
import numpy as np
import pytest
from jax import numpy as jnp

from train import config as config_lib
from train import loop
from train.tasks import splade_llm as task
from zoo.errors import ConfigError
from zoo.lm.decoder import DecoderConfig
from zoo.retrieval import splade_llm

V = 40
TINY = DecoderConfig(vocab_size=V, embed_dim=16, num_layers=1, num_heads=2,
                     mlp_dim=32)


def _texts(seed, n=4, length=6):
  rng = np.random.default_rng(seed)
  tokens = rng.integers(4, V, (n, length)).astype(np.int32)
  lengths = rng.integers(1, length + 1, n)
  lengths[0] = length
  return tokens, np.arange(length)[None] < lengths[:, None]


def _model(echo=True, seed=0):
  model = splade_llm.SpladeLLM(splade_llm.SpladeLLMConfig(decoder=TINY,
                                                          echo=echo))
  tokens, mask = _texts(seed)
  return model, model.init(jax.random.key(seed), tokens, mask)


def _brute(logits, pool):
  """max over pooled rows of log(1 + relu(w)), reserved ids zeroed."""
  act = np.log1p(np.maximum(np.asarray(logits, np.float64), 0))
  out = np.stack([a[p].max(0) if p.any() else np.zeros(a.shape[-1])
                  for a, p in zip(act, np.asarray(pool))])
  out[:, :4] = 0
  return out


def test_big_logits_at_copy_one_and_padding_leave_the_vector_unchanged():
  tokens, mask = _texts(1)
  ids, pool = splade_llm.model_inputs(tokens, mask, echo=True)
  logits = np.random.default_rng(1).normal(size=(*ids.shape, V)) * 3
  vectors = np.asarray(splade_llm.vocab_vectors(jnp.asarray(logits,
                                                            jnp.float32),
                                                pool))
  np.testing.assert_allclose(vectors, _brute(logits, pool), rtol=1e-5,
                             atol=1e-6)
  outside = ~np.asarray(pool)  # copy 1, specials and padding
  assert outside[np.asarray(mask).sum(1) < mask.shape[1]].any()
  big = np.where(outside[..., None], 1e9, logits).astype(np.float32)
  np.testing.assert_array_equal(
      np.asarray(splade_llm.vocab_vectors(jnp.asarray(big), pool)), vectors)
  assert (vectors >= 0).all() and not vectors[:, :4].any()


@pytest.mark.parametrize("echo", [True, False])
def test_model_vectors_are_splade_of_its_tied_head_logits(echo):
  model, params = _model(echo)
  tokens, mask = _texts(2)
  got = np.asarray(model.apply(params, tokens, mask))
  logits, pool = model.apply(params, tokens, mask,
                             method=splade_llm.SpladeLLM.token_logits)
  np.testing.assert_allclose(got, _brute(logits, pool), rtol=1e-5, atol=1e-5)
  # Padding follows the text under causal attention: its ids do not count.
  other = np.where(mask, tokens, (tokens + 7) % V).astype(np.int32)
  np.testing.assert_allclose(model.apply(params, other, mask), got,
                             rtol=1e-6, atol=1e-6)
  if not echo:
    return
  # The backward pass (winning token only) matches the logits' one.
  w = jnp.asarray(np.random.default_rng(2).normal(size=got.shape),
                  jnp.float32)

  def through(fn):
    return jax.grad(lambda p: jnp.sum(w * fn(p)))(params)

  fast = through(lambda p: model.apply(p, tokens, mask))
  slow = through(lambda p: splade_llm.vocab_vectors(*model.apply(
      p, tokens, mask, method=splade_llm.SpladeLLM.token_logits)))
  for a, b in zip(jax.tree.leaves(fast), jax.tree.leaves(slow)):
    np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


def test_an_empty_text_is_the_zero_vector():
  model, params = _model()
  got = np.asarray(model.apply(params, np.zeros((2, 5), np.int32),
                               np.array([[False] * 5, [True] * 5])))
  assert not got[0].any() and np.isfinite(got).all() and got[1].any()


def test_the_last_token_reaches_an_early_copy_two_row_only_with_echo():
  tokens, mask = np.arange(10, 16, dtype=np.int32)[None], np.ones((1, 6),
                                                                  bool)
  changed = tokens.copy()
  changed[0, -1] = 30
  for echo in (True, False):
    model, params = _model(echo)
    rows = [model.apply(params, t, mask,
                        method=splade_llm.SpladeLLM.token_logits)
            for t in (tokens, changed)]
    first = int(np.argmax(np.asarray(rows[0][1])[0]))  # first pooled row
    gap = np.abs(np.asarray(rows[0][0])[0, first]
                 - np.asarray(rows[1][0])[0, first]).max()
    if echo:
      assert first == 6 + 3 and gap > 1e-4
    else:
      assert first == 1 and gap == 0.0


def test_flops_and_the_loss_equal_their_closed_forms():
  rng = np.random.default_rng(3)
  q = np.maximum(rng.normal(size=(5, V)), 0).astype(np.float32)
  d = np.maximum(rng.normal(size=(5, V)), 0).astype(np.float32)
  got, parts = splade_llm.loss(jnp.asarray(q), jnp.asarray(d), lambda_q=0.3,
                               lambda_d=0.02)
  flops = lambda x: np.sum(np.mean(x.astype(np.float64), axis=0) ** 2)
  scores = q.astype(np.float64) @ d.T
  log_softmax = scores - np.log(np.exp(scores - scores.max(1, keepdims=True)
                                       ).sum(1, keepdims=True)) - scores.max(
                                           1, keepdims=True)
  info_nce = -np.mean(np.diag(log_softmax))
  np.testing.assert_allclose(parts["flops_q"], flops(q), rtol=1e-5)
  np.testing.assert_allclose(parts["flops_d"], flops(d), rtol=1e-5)
  np.testing.assert_allclose(parts["info_nce"], info_nce, rtol=1e-5)
  np.testing.assert_allclose(got, info_nce + 0.3 * flops(q)
                             + 0.02 * flops(d), rtol=1e-5)
  weights = [float(splade_llm.flops_weight(2.0, t, 4)) for t in range(6)]
  np.testing.assert_allclose(weights, [0, 0.125, 0.5, 1.125, 2, 2])
  assert splade_llm.flops_weight(2.0, 3, 0) == 2.0


def test_bad_input_is_named():
  with pytest.raises(ValueError, match="lambda_d"):
    splade_llm.SpladeLLMConfig(lambda_d=float("nan"))
  with pytest.raises(ValueError, match="tie"):
    splade_llm.SpladeLLMConfig(decoder=dataclasses.replace(
        TINY, tied_embeddings=False))
  with pytest.raises(ConfigError, match="lambda_q"):
    config_lib.load_config("splade_llm.py:lambda_q=-1")
  with pytest.raises(ValueError, match="one string"):
    splade_llm.token_ids(None, "def f(): pass")


def test_smoke_config_trains_and_ranks_from_text(tmp_path):
  cfg = config_lib.load_config("splade_llm.py:smoke")
  assert cfg.steps <= 50
  summary = loop.run(cfg, tmp_path, devices=jax.devices()[:1])
  assert np.isfinite(summary["train_loss"])
  _, state, _ = loop.load(tmp_path, devices=jax.devices()[:1])
  assert int(state.model_state["schedule"]["step"]) == cfg.steps

  texts = type("Texts", (), {
      "queries": ["Return the sum of a and b.", ""],
      "docs": ["def add(a, b):\n  return a + b", "class A:\n  pass", ""]})
  top = task.ranker_for("stdlib_code_search", str(tmp_path))(texts)
  assert top.shape == (2, 3)
  for row in top:
    assert sorted(row) == [0, 1, 2]
