"""ARC-Encoder: true embeddings as vectors, feeds, the frozen decoder, bad
input."""

import dataclasses
import functools

import jax
import numpy as np
import optax
import pytest
from jax import numpy as jnp

from train.config import OptimConfig
from train.state import make_optimizer
from train.tasks import arc_encoder as task
from zoo.lm import special_tokens
from zoo.lm.decoder import DecoderConfig
from zoo.retrieval import arc_encoder

V, L, T = 50, 10, 6
CFG = arc_encoder.ArcEncoderConfig(
    lm=DecoderConfig(vocab_size=V, embed_dim=16, num_layers=2, num_heads=2,
                     mlp_dim=32),
    encoder_layers=2, pool=4, projector_hidden=24, context_len=L,
    continuation_len=T)


def _data(seed, n=3):
  rng = np.random.default_rng(seed)
  return (jnp.asarray(rng.integers(4, V, (n, L)), jnp.int32),
          jnp.asarray(rng.integers(4, V, (n, T)), jnp.int32))


@functools.cache
def _model(cfg=CFG):
  model = arc_encoder.build(cfg)
  context, continuation = _data(0)
  return model, model.init(jax.random.key(0), context, continuation)


def _direct_nll(model, variables, prefix_tokens, targets):
  """CE of targets read after prefix tokens, by the plain decoder."""
  tokens = jnp.concatenate([prefix_tokens, targets[:, :-1]], 1)
  logits = model.apply(variables, tokens, method=lambda m, t: m.lm(t))
  logits = logits[:, prefix_tokens.shape[1] - 1:]
  return optax.softmax_cross_entropy_with_integer_labels(
      logits, targets).mean(-1)


def test_true_embeddings_as_vectors_give_the_full_logits():
  model, variables = _model()
  context, continuation = _data(1)
  embedded = model.apply(variables, context, method=lambda m, c: m.lm.embed(c))
  got = model.apply(variables, embedded, continuation, method="vectors_nll")
  want = _direct_nll(model, variables, context, continuation)
  np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
  text = model.apply(variables, context, continuation, "text", method="nll")
  np.testing.assert_allclose(text, want, rtol=1e-5, atol=1e-5)


def test_text_feeds_read_what_they_say():
  model, variables = _model()
  context, continuation = _data(2)
  n = CFG.num_vectors
  assert n == 3  # ceil(10 / 4): the ragged tail makes a vector
  last = model.apply(variables, context, continuation, "last", method="nll")
  np.testing.assert_allclose(
      last, _direct_nll(model, variables, context[:, -n:], continuation),
      rtol=1e-5, atol=1e-5)
  none = model.apply(variables, context, continuation, "none", method="nll")
  bos = jnp.full((len(context), 1), special_tokens.BOS, jnp.int32)
  np.testing.assert_allclose(
      none, _direct_nll(model, variables, bos, continuation), rtol=1e-5,
      atol=1e-5)
  vectors = model.apply(variables, context, method="compress")
  assert vectors.shape == (len(context), n, CFG.lm.embed_dim)


def test_decoder_params_stay_bit_identical_while_the_encoder_learns():
  model, variables = _model()
  context, continuation = _data(3, n=4)
  inputs = {"context": context, "continuation": continuation}
  split = arc_encoder.split_frozen(variables)
  assert "lm" not in split["params"]
  tx = make_optimizer(OptimConfig(name="adamw", learning_rate=1e-2,
                                  weight_decay=0.1), 10)
  params, opt_state = split["params"], tx.init(split["params"])
  grad = jax.jit(jax.grad(lambda p, key: task.loss(
      model, {**split, "params": p}, inputs, key)[0]))
  for step in range(3):
    grads = grad(params, jax.random.key(step))
    updates, opt_state = tx.update(grads, opt_state, params)
    params = optax.apply_updates(params, updates)
  frozen = arc_encoder.merged({**split, "params": params})["params"]["lm"]
  jax.tree.map(np.testing.assert_array_equal, frozen,
               variables["params"]["lm"])
  moved = jax.tree.map(lambda a, b: bool(jnp.any(a != b)), params["encoder"],
                       variables["params"]["encoder"])
  assert all(jax.tree.leaves(moved))


def test_loss_is_one_of_the_two_tasks():
  model, variables = _model()
  context, continuation = _data(4)
  split = arc_encoder.split_frozen(variables)
  inputs = {"context": context, "continuation": continuation}
  rebuild = model.apply(variables, model.apply(
      variables, context, method="compress"), context, method="vectors_nll")
  go_on = model.apply(variables, context, continuation, method="nll")
  for rate, want in ((1.0, rebuild), (0.0, go_on)):
    cfg = dataclasses.replace(CFG, reconstruction_rate=rate)
    got, (stats, _) = task.loss(arc_encoder.build(cfg), split, inputs,
                                jax.random.key(0))
    assert float(got) == pytest.approx(float(want.mean()), rel=1e-5)
    assert float(stats["reconstruction"]) == rate


def test_bad_input_is_named():
  for pool in (0, 2.0, True):
    with pytest.raises(ValueError, match="pool"):
      dataclasses.replace(CFG, pool=pool)
  with pytest.raises(ValueError, match="reconstruction_rate"):
    dataclasses.replace(CFG, reconstruction_rate=float("nan"))
  with pytest.raises(ValueError, match="encoder_layers"):
    dataclasses.replace(CFG, encoder_layers=3)
  model, variables = _model()
  context, continuation = _data(5)
  for shape in ((3, 2, 15), (2, 2, 16), (3, 16)):
    with pytest.raises(ValueError, match="vectors"):
      model.apply(variables, jnp.zeros(shape), continuation,
                  method="vectors_nll")
  with pytest.raises(ValueError, match="feed"):
    model.apply(variables, context, continuation, "all", method="nll")
  with pytest.raises(ValueError, match="windows"):
    arc_encoder.context_spans(np.zeros((2, L + T - 1)), L, T)
