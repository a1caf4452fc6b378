"""The masked-diffusion LM: corruption, loss, attention masks, training."""

import jax
import numpy as np
import optax
import pytest
from jax import numpy as jnp

import zoo
from ops.decoding.diffusion import canvas_mask
from train.tasks import masked_diffusion
from zoo.errors import ConfigError
from zoo.lm import diffusion, special_tokens
from zoo.lm.decoder import DecoderConfig

TINY = DecoderConfig(vocab_size=24, embed_dim=16, num_layers=2, num_heads=2,
                     num_kv_heads=1, mlp_dim=32)


def test_corrupt_masks_answers_at_a_stratified_rate():
  b, length, p = 512, 48, 8
  tokens = jax.random.randint(jax.random.key(0), (b, length), 4, 24)
  noisy, masked, t = map(np.asarray, diffusion.corrupt(
      jax.random.key(1), tokens, p))
  assert not masked[:, :p].any()
  np.testing.assert_array_equal(noisy == special_tokens.MASK, masked)
  np.testing.assert_array_equal(noisy[~masked], np.asarray(tokens)[~masked])
  # One t per row, spread evenly over (0, 1): (i + u) / B.
  gaps = np.diff(np.sort(t))
  np.testing.assert_allclose(gaps, 1 / b, atol=1e-3)
  rate = masked[:, p:].mean(-1)
  assert np.abs(rate - t).mean() < 0.06
  assert np.corrcoef(rate, t)[0, 1] > 0.95


def test_loss_matches_brute_force():
  rng = np.random.default_rng(0)
  b, length, v, p = 4, 10, 7, 3
  logits = rng.normal(size=(b, length, v)).astype(np.float32)
  tokens = rng.integers(0, v, (b, length))
  masked = rng.random((b, length)) < 0.5
  masked[:, :p] = False
  t = np.array([0.1, 0.4, 0.7, 1.0], np.float32)
  logp = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
  nll = -np.take_along_axis(logp, tokens[..., None], -1)[..., 0] * masked
  elbo = np.mean(nll.sum(-1) / t / (length - p))
  mean = nll.sum() / masked.sum()
  for weighting, want in (("elbo", elbo), ("masked_mean", mean)):
    got, accuracy = diffusion.diffusion_loss(
        jnp.asarray(logits), jnp.asarray(tokens), jnp.asarray(masked),
        jnp.asarray(t), p, weighting)
    np.testing.assert_allclose(got, want, rtol=1e-5)
  hits = (logits.argmax(-1) == tokens) & masked
  np.testing.assert_allclose(accuracy, hits.sum() / masked.sum(), rtol=1e-6)


@pytest.mark.parametrize("attention", ["bidirectional", "block_causal"])
def test_attention_reaches_later_blocks_only_when_bidirectional(attention):
  cfg = diffusion.DiffusionConfig(decoder=TINY, prompt_len=3, block_len=4,
                                  attention=attention)
  model = zoo.build("parallelbench", cfg)
  tokens = jax.random.randint(jax.random.key(2), (2, 11), 4, 24)
  variables = model.init(jax.random.key(3), tokens)
  changed = tokens.at[:, 7:].set(special_tokens.MASK)  # the last block
  before, after = (np.asarray(model.apply(variables, x))
                   for x in (tokens, changed))
  same = np.array_equal(before[:, :7], after[:, :7])
  assert same == (attention == "block_causal")
  # The sampler's view of the same network gives the same logits.
  lm = diffusion.denoiser(cfg, variables["params"])
  np.testing.assert_allclose(
      lm(tokens, qq_mask=canvas_mask(3, 8, 4, attention)), before, atol=1e-5)


def test_masked_diffusion_task_fits_a_fixed_batch():
  cfg = diffusion.DiffusionConfig(decoder=TINY, prompt_len=4, block_len=4,
                                  max_len=12)
  model = diffusion.build(cfg)
  task = masked_diffusion.TASK
  inputs = task.prepare({"tokens": np.random.default_rng(0).integers(
      4, 24, (16, 20))})
  variables = task.init(model, jax.random.key(0), inputs)
  tx = optax.adam(3e-2)
  opt_state = tx.init(variables["params"])

  @jax.jit
  def step(params, opt_state):
    # One fixed corruption: the model must memorise its masked tokens.
    (value, _), grads = jax.value_and_grad(
        lambda p: task.loss(model, {"params": p}, inputs, jax.random.key(1)),
        has_aux=True)(params)
    updates, opt_state = tx.update(grads, opt_state, params)
    return optax.apply_updates(params, updates), opt_state, value

  params, losses = variables["params"], []
  for _ in range(50):
    params, opt_state, value = step(params, opt_state)
    losses.append(float(value))
  assert np.isfinite(losses).all()
  assert losses[-1] < 0.3 * losses[0]


def test_config_errors_name_the_field():
  with pytest.raises(ConfigError, match="attention"):
    diffusion.DiffusionConfig(attention="causal")
  with pytest.raises(ConfigError, match="loss_weighting"):
    diffusion.DiffusionConfig(loss_weighting="sum")
  with pytest.raises(ConfigError, match="max_len=8 leaves no answer"):
    diffusion.DiffusionConfig(prompt_len=8, max_len=8)
