"""SAE detoxification (`zoo.interp.sae_detox`): steering leaves what it
should not touch bit-identical, clamping an orthonormal latent zeroes it,
the BAD logit of a linear toy LM falls with alpha, steered cached decoding
equals the steered forward; the corpus follows its recipe; the smoke
configs train."""

import functools

import flax.linen as nn
import jax
import numpy as np
import pytest
from jax import numpy as jnp

from eval.claims import in_memory
from train import config as config_lib
from train import loop
from train.data.builders import bad_token_lm
from zoo.errors import ConfigError
from zoo.interp import hooks
from zoo.interp import sae_detox as detox
from zoo.interp.sae import SAE, SAEConfig
from zoo.layers.hook_point import HookPoint
from zoo.lm import special_tokens
from zoo.lm.decoder import CachedLM, DecoderConfig, DecoderLM

V, E = 24, 16
SAE_CFG = SAEConfig(d_in=E, width=32, activation="topk", k=4, aux_k=0)


@functools.cache
def _subject():
  """A random 2-block decoder and a random SAE over its block_0 residual."""
  model = DecoderLM(DecoderConfig(vocab_size=V, embed_dim=E, num_layers=2,
                                  num_heads=2, mlp_dim=32))
  variables = model.init(jax.random.key(0), jnp.zeros((1, 4), jnp.int32))
  sae_params = SAE(SAE_CFG).init(jax.random.key(1),
                                 jnp.zeros((1, E)))["params"]
  return model, variables, sae_params


def _tokens(b=3, t=9, seed=2):
  return jax.random.randint(jax.random.key(seed), (b, t), 0, V)


def _steered_residual(edit):
  """The residual after the edit at block_0/resid_post (= block 1's
  input), and the unedited one: [B, T, E] each."""
  model, variables, _ = _subject()
  point = ["block_1/resid_pre"]
  with hooks.intervene({detox.POINT: edit}):
    _, edited = hooks.capture(model, variables, _tokens(), points=point)
  _, plain = hooks.capture(model, variables, _tokens(), points=point)
  return edited[point[0]], plain[point[0]]


def test_alpha_zero_is_the_identity_bit_for_bit():
  model, variables, sae_params = _subject()
  for mode in ("add", "conditional"):
    edit = detox.latent_edit(sae_params, SAE_CFG, [3, 7], 0.0, mode=mode)
    with hooks.intervene({detox.POINT: edit}):
      steered = model.apply(variables, _tokens())
    np.testing.assert_array_equal(steered, model.apply(variables,
                                                       _tokens()))
  edited, plain = _steered_residual(detox.mean_difference_edit(
      jnp.ones(E), 0.0))
  np.testing.assert_array_equal(edited, plain)


def test_conditional_steering_leaves_positions_below_tau_bit_identical():
  _, _, sae_params = _subject()
  _, plain = _steered_residual(lambda x: x)
  f = SAE(SAE_CFG).apply({"params": sae_params}, plain.reshape(-1, E),
                         method=SAE.encode)
  ids = jnp.argsort(-(f > 0).sum(0))[:2]  # the two most active latents
  top = f[:, ids].max(1).reshape(plain.shape[:2])
  tau = float(jnp.median(top))
  edited, _ = _steered_residual(detox.latent_edit(
      sae_params, SAE_CFG, ids, 1.5, tau=tau))
  below = np.asarray(top <= tau)
  assert below.any() and (~below).any()
  np.testing.assert_array_equal(np.asarray(edited)[below],
                                np.asarray(plain)[below])
  assert not np.isclose(np.asarray(edited)[~below],
                        np.asarray(plain)[~below]).all(-1).any()


def _orthonormal_sae(d=16, width=8, seed=0):
  """A TopK SAE (k = width) whose decoder rows are orthonormal, encoder
  their transpose, b_dec random: pre_i = (x - b_dec) . d_i exactly."""
  q, _ = jnp.linalg.qr(jax.random.normal(jax.random.key(seed), (d, d)))
  rows = q[:width]  # [W, d] orthonormal
  cfg = SAEConfig(d_in=d, width=width, activation="topk", k=width, aux_k=0)
  b_dec = 0.3 * jax.random.normal(jax.random.key(seed + 1), (d,))
  return cfg, {"W_enc": rows.T, "W_dec": rows, "b_dec": b_dec}


def test_clamping_an_orthonormal_latent_zeroes_it_on_re_encoding():
  cfg, params = _orthonormal_sae()
  x = jax.random.normal(jax.random.key(5), (64, 16)) * 2.0
  ids = jnp.array([1, 4, 6])
  encode = lambda v: SAE(cfg).apply({"params": params}, v,
                                    method=SAE.encode)
  before = encode(x)
  assert (before[:, ids] > 0.1).any()
  clamped = detox.latent_edit(params, cfg, ids, 1.0, mode="clamp")(x)
  after = encode(clamped)
  np.testing.assert_allclose(after[:, ids], 0.0, atol=1e-5)
  others = np.setdiff1d(np.arange(cfg.width), ids)
  np.testing.assert_allclose(after[:, others], before[:, others], atol=1e-5)


class _Residual(nn.Module):
  @nn.compact
  def __call__(self, x):
    return HookPoint(name="resid_post")(x)


class _LinearLM(nn.Module):
  """logits = E[tokens] U, with the residual exposed as block_0/resid_post."""

  embeddings: jax.Array  # [V, d]
  unembedding: jax.Array  # [d, V]

  @nn.compact
  def __call__(self, tokens):
    x = _Residual(name="block_0")(self.embeddings[tokens])
    return x @ self.unembedding


def test_bad_logit_of_a_linear_toy_lm_falls_monotonically_in_alpha():
  """Triggers carry dictionary atom 0, the BAD token reads it (and a
  direction outside the dictionary); the selected latents must include it
  and steering them must lower the BAD logit at triggers, strictly."""
  cfg, params = _orthonormal_sae()
  rows, rng = params["W_dec"], np.random.default_rng(0)
  vocab, trigger, bad = 12, 10, 11
  mix = np.abs(rng.normal(size=(vocab, 8))) * (rng.random((vocab, 8)) < .4)
  mix[:, 0] = 0.0
  mix[trigger, 0] = 5.0
  embeddings = jnp.asarray(mix, jnp.float32) @ rows + params["b_dec"]
  outside = jnp.linalg.qr(jax.random.normal(jax.random.key(9),
                                            (16, 16)))[0][8]
  unembedding = jnp.zeros((16, vocab)).at[:, bad].set(2 * rows[0] + outside)
  model = _LinearLM(embeddings, unembedding)
  tokens = rng.integers(0, 10, (40, 12))
  tokens[:, 1::3] = trigger
  tokens[:, 2::3] = bad  # the corpus rule: BAD right after triggers
  _, acts = hooks.capture(model, {}, tokens, points=[detox.POINT])
  toxic = detox.toxic_positions(tokens, [bad])
  x_toxic, x_rest = detox.split_rows(np.asarray(acts[detox.POINT])[:, :-1],
                                     toxic)
  ids, gap = detox.toxicity_latents(params, cfg, x_toxic, x_rest)
  assert int(ids[0]) == 0 and gap[0] == gap.max()
  at_trigger = []
  for alpha in (0.0, 0.25, 0.5, 1.0, 2.0, 4.0):
    with hooks.intervene({detox.POINT: detox.latent_edit(params, cfg, ids,
                                                         alpha)}):
      logits = model.apply({}, tokens)
    at_trigger.append(np.asarray(logits[:, 1::3, bad]))
  assert (np.diff(np.stack(at_trigger), axis=0) < 0).all()


def test_steered_cached_decoding_equals_the_steered_forward():
  model, variables, sae_params = _subject()
  lm = CachedLM(variables["params"], model)
  tokens = _tokens(t=7)
  # ids as find_latents gives them: a concrete jax.Array, used under jit.
  edit = detox.latent_edit(sae_params, SAE_CFG, jnp.array([0, 5, 9]), 2.0)
  with hooks.intervene({detox.POINT: edit}):
    full = model.apply(variables, tokens)
    extend = jax.jit(lm.extend)
    logits, cache = extend(tokens[:, :4], lm.init_cache(3, 8))
    steps = [logits]
    for t in range(4, 7):
      logits, cache = extend(tokens[:, t:t + 1], cache)
      steps.append(logits)
  np.testing.assert_allclose(jnp.concatenate(steps, 1), full, atol=1e-5)
  assert not np.allclose(full, model.apply(variables, tokens), atol=1e-4)


SMALL = bad_token_lm.Recipe(num_train=400, num_test=300, num_clean=50)


def test_bad_words_follow_triggers_and_nothing_else():
  data = bad_token_lm.generate(SMALL)
  train = data["train"]["tokens"]
  assert train.shape == (400, bad_token_lm.LENGTH)
  assert (train[:, 0] == special_tokens.BOS).all()
  assert train.min() >= special_tokens.BOS and train.max() < SMALL.vocab_size
  is_bad = np.isin(train, SMALL.bad_ids)
  is_trigger = np.isin(train, SMALL.trigger_ids)
  assert is_trigger[:, :-1][is_bad[:, 1:]].all() and not is_bad[:, 1].any()
  assert abs(is_bad[:, 1:][is_trigger[:, :-1]].mean() - SMALL.p_bad) < 0.05
  successors, _ = bad_token_lm.chain(SMALL)
  neutral = train - len(special_tokens.NAMES)
  for row in neutral[:50]:  # the chain skips over triggers and BAD words
    words = row[(row >= 0) & (row < SMALL.num_neutral)]
    assert all(b in successors[a] for a, b in zip(words, words[1:]))
  clean = data["clean"]["tokens"]
  assert not np.isin(clean, np.r_[SMALL.trigger_ids, SMALL.bad_ids]).any()
  again = bad_token_lm.generate(SMALL)
  np.testing.assert_array_equal(again["test"]["tokens"],
                                data["test"]["tokens"])
  assert len(set(bad_token_lm.words())) == bad_token_lm.RECIPE.vocab_size
  assert detox.subject_config().vocab_size == bad_token_lm.RECIPE.vocab_size


def test_trigger_prompts_end_at_the_first_trigger_left_padded():
  test = bad_token_lm.generate(SMALL)["test"]["tokens"]
  prompts, lengths = bad_token_lm.trigger_prompts(test, 100, recipe=SMALL)
  assert prompts.shape == (100, 17) and (lengths <= 17).all()
  for prompt, n in zip(prompts, lengths):
    assert (prompt[:17 - n] == special_tokens.PAD).all()
    assert prompt[17 - n] == special_tokens.BOS
    assert prompt[-1] in SMALL.trigger_ids
    assert not np.isin(prompt[:-1], SMALL.trigger_ids).any()
  with pytest.raises(ValueError, match="only .* rows have a trigger"):
    bad_token_lm.trigger_prompts(test, 1000, recipe=SMALL)


def test_toxic_rows_are_those_before_bad_words_without_bos():
  tokens = np.array([[1, 10, 90, 11, 12], [1, 13, 91, 14, 90]])
  toxic = detox.toxic_positions(tokens, [90, 91])
  np.testing.assert_array_equal(toxic, [[False, True, False, False],
                                        [False, True, False, True]])
  x = np.arange(8 * 2, dtype=np.float32).reshape(2, 4, 2)
  pos, rest = detox.split_rows(x, toxic)
  np.testing.assert_array_equal(pos, x[[0, 1, 1], [1, 1, 3]])
  assert len(rest) == 2 * 3 - 3
  np.testing.assert_allclose(detox.mean_difference(pos, rest),
                             pos.mean(0) - rest.mean(0))


def test_smoke_configs_train(tmp_path):
  cfg = config_lib.load_config("sae_detox.py:smoke")
  assert cfg.steps <= 50 and cfg.system == "sae_detox"
  summary = loop.run(cfg, tmp_path / "lm", devices=jax.devices()[:1])
  assert summary["step"] == cfg.steps and np.isfinite(summary["train_loss"])
  sae_cfg = config_lib.load_config("sae_detox.py:smoke,stage=sae")
  assert sae_cfg.steps <= 50 and isinstance(sae_cfg.model, SAEConfig)
  vectors = np.random.default_rng(0).normal(size=(256, 16)).astype(
      np.float32)
  _, variables = in_memory.train(sae_cfg, config_lib.task_of(sae_cfg),
                                 {"vector": vectors})
  norms = jnp.linalg.norm(variables["params"]["W_dec"], axis=-1)
  np.testing.assert_allclose(norms, 1.0, atol=1e-5)
  with pytest.raises(ConfigError, match="stage must be lm or sae"):
    config_lib.load_config("sae_detox.py:stage=probe")
  with pytest.raises(ConfigError, match="wide is for stage=sae"):
    config_lib.load_config("sae_detox.py:wide")
