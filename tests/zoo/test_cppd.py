"""CPPD and its autoregressive baseline: targets, the single decoder pass,
invariances, the greedy loop and learning."""

import dataclasses
import functools

import flax.linen as nn
import jax
import numpy as np
import optax
import pytest
from jax import numpy as jnp

from train import config as config_lib
from train.tasks import cppd as cppd_task
from train.tasks import strip_ar
from zoo.decoding import cppd
from zoo.lm import special_tokens
from zoo.vision import ar_decoder
from zoo.vision.recognition import (
  CHAR_BASE,
  RecognizerConfig,
  cut_at_eos,
  label_tokens,
)

CFG = RecognizerConfig(image_height=8, image_width=48, max_len=5,
                       embed_dim=32, num_heads=2, mlp_dim=48,
                       encoder_layers=1, decoder_layers=2)
AR_CFG = dataclasses.replace(CFG, decoder="autoregressive")
EOS, PAD = special_tokens.EOS, special_tokens.PAD


def _batch(seed, batch=6):
  rng = np.random.default_rng(seed)
  # Rows of different brightness, so that their logits differ.
  images = rng.uniform(size=(batch, CFG.image_height, CFG.image_width)) * (
      rng.uniform(size=(batch, 1, 1)) ** 2)
  labels = np.stack([
      label_tokens(rng.integers(0, CFG.num_classes, rng.integers(1, 6)),
                   CFG.max_len) for _ in range(batch)])
  return {"image": images.astype(np.float32), "label": labels}


def _init(task, cfg, seed):
  model = cppd.build(cfg)
  init = jax.jit(functools.partial(task.init, model))
  return model, nn.meta.unbox(init(jax.random.key(seed), _batch(0)))


@pytest.fixture(scope="module")
def parallel():
  return _init(cppd_task, CFG, 0)


@pytest.fixture(scope="module")
def autoregressive():
  return _init(strip_ar, AR_CFG, 1)


# Jitted once for the module: eager calls would compile every op apart.
_apply = jax.jit(lambda model, variables, images, side_tasks: model.apply(
    variables, images, side_tasks=side_tasks), static_argnums=(0, 3))
_greedy = jax.jit(ar_decoder.greedy_decode, static_argnums=0)
_teacher_forced = jax.jit(
    lambda model, variables, images, tokens: model.apply(
        variables, images, tokens), static_argnums=0)


def test_count_and_order_targets_hand_cases():
  labels = jnp.stack([label_tokens([3, 0, 3], 5), label_tokens([7] * 5, 5),
                      label_tokens([9], 5)])
  counts = np.zeros((3, CFG.vocab_size), np.int32)
  counts[0, [CHAR_BASE + 3, CHAR_BASE + 0, EOS]] = [2, 1, 1]
  counts[1, [CHAR_BASE + 7, EOS]] = [5, 1]
  counts[2, [CHAR_BASE + 9, EOS]] = [1, 1]
  np.testing.assert_array_equal(cppd.count_targets(labels, CFG.vocab_size),
                                counts)
  np.testing.assert_array_equal(cppd.order_targets(labels), [
      [1, 1, 1, 1, 0, 0], [1, 1, 1, 1, 1, 1], [1, 1, 0, 0, 0, 0]])


def test_cut_at_eos_pads_after_the_first_eos_only():
  tokens = jnp.array([[5, EOS, 6, EOS, 7], [5, 6, 7, 8, 9], [EOS, 4, 4, 4, 4]])
  np.testing.assert_array_equal(cut_at_eos(tokens), [
      [5, EOS, PAD, PAD, PAD], [5, 6, 7, 8, 9], [EOS, PAD, PAD, PAD, PAD]])


def test_inference_is_one_decoder_call_per_image(parallel):
  model, variables = parallel
  images = jnp.asarray(_batch(1)["image"])
  calls = []

  def count(next_fun, args, kwargs, context):
    if isinstance(context.module, cppd.ParallelDecoder) and (
        context.method_name == "__call__"):
      calls.append(args[0].shape[0])  # images in this call
    return next_fun(*args, **kwargs)

  with nn.intercept_methods(count):
    jaxpr = jax.make_jaxpr(functools.partial(cppd.decode, model))(
        variables, images)
  assert calls == [images.shape[0]]
  assert jaxpr.out_avals[0].shape == (images.shape[0], CFG.num_slots)
  # No loop in the program: the one traced call runs once.
  assert "while" not in str(jaxpr) and "scan" not in str(jaxpr)


def test_dropping_the_class_queries_leaves_char_logits_unchanged(parallel):
  model, variables = parallel
  images = _batch(2)["image"]
  trained = _apply(model, variables, images, True)
  inferred = _apply(model, variables, images, False)
  assert inferred.count_logits is None and inferred.order_logits is None
  np.testing.assert_allclose(trained.char_logits, inferred.char_logits,
                             rtol=1e-5, atol=1e-5)


def test_permuting_visual_tokens_with_their_positions_keeps_logits(parallel):
  model, variables = parallel
  visual = jax.jit(functools.partial(
      model.apply, method=lambda m, x: m.encoder(x)))(
          variables, _batch(3)["image"])
  params = variables["params"]["decoder"]
  decoder = cppd.ParallelDecoder(CFG)
  perm = np.random.default_rng(3).permutation(CFG.num_visual)
  permuted = {**params, "visual_pos": params["visual_pos"][perm]}
  for side_tasks in (False, True):
    out = _apply(decoder, {"params": params}, visual, side_tasks)
    out_perm = _apply(decoder, {"params": permuted}, visual[:, perm],
                      side_tasks)
    for a, b in zip(out, out_perm):
      if a is not None:
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)


def _every_layer_updates_everything(decoder, visual):
  """Char logits [B, S, V] with the ordering stack's visual tokens updated
  by its last layer too, as the reference computes them."""
  s = decoder.cfg.num_slots
  visual = visual + decoder.visual_pos
  counted = visual
  for layer in decoder.counting:
    counted = layer(counted, layer.keys_values(counted))
  x = jnp.concatenate([jnp.broadcast_to(
      decoder.slot_queries, (visual.shape[0],) + decoder.slot_queries.shape),
                       visual], axis=1)
  for layer in decoder.ordering:
    x = layer(x, layer.keys_values(x[:, s:]))
  chars = decoder.edge(x[:, :s], decoder.edge.keys_values(counted))
  return decoder.char_head(decoder.char_norm(chars))


def test_skipping_the_last_ordering_visual_update_is_exact(parallel):
  model, variables = parallel
  visual = jax.jit(functools.partial(
      model.apply, method=lambda m, x: m.encoder(x)))(
          variables, _batch(8)["image"])
  params = {"params": variables["params"]["decoder"]}
  decoder = cppd.ParallelDecoder(CFG)
  expected = jax.jit(functools.partial(
      decoder.apply, method=_every_layer_updates_everything))(params, visual)
  np.testing.assert_allclose(_apply(decoder, params, visual, False).char_logits,
                             expected, rtol=1e-5, atol=1e-5)


def test_slots_do_not_attend_to_each_other(parallel):
  model, variables = parallel
  images = _batch(9)["image"]
  params = variables["params"]
  # Slot queries are never keys: changing slot 2's query moves slot 2 only.
  decoder = params["decoder"]
  moved = decoder["slot_queries"].at[2].add(3.0)
  changed = {"params": {**params,
                        "decoder": {**decoder, "slot_queries": moved}}}
  base = _apply(model, variables, images, True)
  out = _apply(model, changed, images, True)
  diff = np.abs(np.asarray(out.char_logits - base.char_logits)).max(axis=-1)
  assert diff[:, 2].min() > 1e-3
  np.testing.assert_allclose(np.delete(diff, 2, axis=1), 0, atol=1e-5)
  np.testing.assert_allclose(out.count_logits, base.count_logits, atol=1e-5)


def _stepwise_reference(model, variables, images):
  """Greedy decoding by full teacher-forced forwards (no cache), one per
  step, stopping once every row has emitted EOS."""
  b, s = images.shape[0], CFG.num_slots
  # Causal attention: slots after t do not change the logits at t, so one
  # [B, S] buffer serves every step (and one compilation).
  inputs = np.full((b, s), PAD, np.int32)
  inputs[:, 0] = special_tokens.BOS
  generated = np.full((b, s), PAD, np.int32)
  done, steps = np.zeros(b, bool), 0
  while steps < s and not done.all():
    logits = _teacher_forced(model, variables, images,
                             jnp.asarray(inputs))[:, steps]
    token = np.asarray(jnp.argmax(logits, axis=-1), np.int32)
    generated[:, steps] = token
    if steps + 1 < s:
      inputs[:, steps + 1] = token
    done |= token == EOS
    steps += 1
  return np.asarray(cut_at_eos(jnp.asarray(generated))), steps


@pytest.mark.parametrize("eos_bias", [0.0, 2.0, 3.0])
def test_greedy_loop_equals_stepwise_reference(autoregressive, eos_bias):
  model, variables = autoregressive
  # A larger EOS bias ends rows earlier: exercises the early exit and the
  # cut at EOS as well as full-length decoding.
  params = variables["params"]
  head = {**params["head"],
          "bias": params["head"]["bias"].at[EOS].add(eos_bias)}
  variables = {"params": {**params, "head": head}}
  images = jnp.asarray(_batch(4, batch=8)["image"])
  expected, expected_steps = _stepwise_reference(model, variables, images)
  decoded = _greedy(model, variables, images)
  np.testing.assert_array_equal(decoded.tokens, expected)
  assert int(decoded.steps) == expected_steps


def test_greedy_loop_covers_early_exit(autoregressive):
  model, variables = autoregressive
  params = variables["params"]
  head = {**params["head"], "bias": params["head"]["bias"].at[EOS].add(50.)}
  decoded = _greedy(model, {"params": {**params, "head": head}},
                    jnp.asarray(_batch(5, batch=8)["image"]))
  assert int(decoded.steps) == 1
  assert (np.asarray(decoded.tokens)[:, 0] == EOS).all()


def _train(task, model, variables, batch, steps=8):
  tx = optax.adam(3e-3)

  @jax.jit
  def step(params, opt_state):
    (loss, _), grads = jax.value_and_grad(
        lambda p: task.loss(model, {"params": p}, batch, None),
        has_aux=True)(params)
    updates, opt_state = tx.update(grads, opt_state)
    return optax.apply_updates(params, updates), opt_state, loss

  params, losses = variables["params"], []
  opt_state = tx.init(params)
  for _ in range(steps):
    params, opt_state, loss = step(params, opt_state)
    losses.append(float(loss))
  return losses


def test_training_steps_reduce_the_loss(parallel, autoregressive):
  batch = {k: jnp.asarray(v) for k, v in _batch(6, batch=16).items()}
  for task, (model, variables) in ((cppd_task, parallel),
                                   (strip_ar, autoregressive)):
    losses = _train(task, model, variables, batch)
    assert np.isfinite(losses).all()
    assert losses[-1] < 0.8 * losses[0], (task.__name__, losses)


def test_plain_pd_trains_the_character_loss_only(parallel):
  model, variables = parallel
  batch = _batch(7)
  outputs = _apply(model, variables, batch["image"], True)
  full, metrics = cppd.cppd_loss(outputs, batch["label"], CFG)
  plain_cfg = dataclasses.replace(CFG, side_loss_weight=0.0)
  plain, _ = cppd.cppd_loss(outputs, batch["label"], plain_cfg)
  np.testing.assert_allclose(plain, metrics["edge_loss"], rtol=1e-6)
  np.testing.assert_allclose(
      full, plain + metrics["count_loss"] + metrics["order_loss"], rtol=1e-5)
  assert config_lib.load_config(
      "cppd.py:smoke,side_losses=false").model.side_loss_weight == 0
  assert config_lib.load_config("cppd_ar.py:smoke").task == (
      "train.tasks.strip_ar:TASK")
