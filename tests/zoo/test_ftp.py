"""FTP: the encoder is causal, each state's futures read only that state
and its own teacher tokens, cached generation equals the full forward, and
the loss is the g-weighted cross-entropy."""

import dataclasses

import jax
import numpy as np
import optax
import pytest
from jax import numpy as jnp

from train import config as config_lib
from train import loop
from train.tasks import future_tokens
from zoo.errors import ConfigError
from zoo.lm.decoder import DecoderConfig
from zoo.lm.ftp import FTP, CachedFTP, FTPConfig

CFG = FTPConfig(encoder=DecoderConfig(vocab_size=31, embed_dim=16,
                                      num_layers=2, num_heads=2, mlp_dim=24),
                future=3, pseudo_tokens=2, decoder_mlp_dim=24,
                positions_per_window=4)


@pytest.fixture(scope="module")
def ftp():
  model = FTP(CFG)
  tokens = jnp.zeros((1, 6), jnp.int32)
  return model, model.init(jax.random.key(0), tokens)


def _tokens(seed, length=12):
  return jax.random.randint(jax.random.key(seed), (2, length), 0, 31)


def test_later_tokens_leave_a_state_alone(ftp):
  model, variables = ftp
  a = _tokens(1)
  b = a.at[:, 7:].set((a[:, 7:] + 1) % 31)
  states = lambda t: model.apply(variables, t, method=FTP.states)
  np.testing.assert_array_equal(states(a)[:, :7], states(b)[:, :7])


def test_each_position_reads_only_its_state_and_teachers(ftp):
  model, variables = ftp
  tokens = _tokens(2)
  positions = jnp.array([[1, 4, 6], [0, 5, 8]])
  together, targets = model.apply(variables, tokens, positions,
                                  method=FTP.future_logits)
  states = model.apply(variables, tokens[:, :-1], method=FTP.states)
  for row in range(2):
    for k in range(3):
      t = int(positions[row, k])
      alone = model.apply(variables, states[row, t][None],
                          tokens[row, t + 1:t + CFG.future][None],
                          method=FTP.decode)
      np.testing.assert_allclose(together[row, k], alone[0], atol=1e-5)
      np.testing.assert_array_equal(targets[row, k],
                                    tokens[row, t + 1:t + 1 + CFG.future])
  # The first prediction reads no teacher token: changing x_{t+1} moves
  # only the later ones.
  moved = tokens.at[0, 2].set((tokens[0, 2] + 1) % 31)  # x_{1+1}
  again, _ = model.apply(variables, moved, positions,
                         method=FTP.future_logits)
  np.testing.assert_allclose(again[0, 0, 0], together[0, 0, 0], atol=1e-6)
  assert not np.allclose(again[0, 0, 1], together[0, 0, 1])


def test_cached_generation_equals_the_full_forward(ftp):
  model, variables = ftp
  tokens = _tokens(3)
  full = jax.jit(model.apply)(variables, tokens)
  lm = CachedFTP(variables["params"], model)
  extend = jax.jit(lambda lm, t, c: lm.extend(t, c))
  cache = lm.init_cache(2, 16)
  parts = []
  for lo, hi in ((0, 5), (5, 6), (6, 12)):
    logits, cache = extend(lm, tokens[:, lo:hi], cache)
    parts.append(logits)
  np.testing.assert_allclose(np.concatenate(parts, 1), full, atol=1e-5)
  assert lm.vocab_size == 31


def test_the_loss_is_the_g_weighted_cross_entropy(ftp):
  model, variables = ftp
  tokens = _tokens(4)
  key = jax.random.key(5)
  loss, (metrics, _) = future_tokens.loss(model, variables,
                                          {"tokens": tokens}, key)
  positions = future_tokens.sample_positions(key, 2, 11, CFG.future,
                                             CFG.positions_per_window)
  logits, targets = model.apply(variables, tokens, positions,
                                method=FTP.future_logits)
  ce = np.asarray(optax.softmax_cross_entropy_with_integer_labels(
      logits, targets)).mean((0, 1))
  g = 0.8 ** np.arange(CFG.future)
  np.testing.assert_allclose(loss, (ce * g).sum() / g.sum(), rtol=1e-5)
  np.testing.assert_allclose(metrics["next_token_nll"], ce[0], rtol=1e-5)


def test_sampled_positions_are_distinct_and_leave_room_for_the_future():
  positions = np.asarray(future_tokens.sample_positions(
      jax.random.key(6), 50, 20, 4, 16))
  assert positions.min() >= 0 and positions.max() <= 20 - 4
  assert all(len(set(row)) == 16 for row in positions)
  with pytest.raises(ValueError, match="windows of at least"):
    future_tokens.sample_positions(jax.random.key(0), 1, 10, 4, 16)


@pytest.mark.parametrize("bad", [dict(future=0), dict(pseudo_tokens=0),
                                 dict(gamma=0.0), dict(gamma=float("nan")),
                                 dict(positions_per_window=0)])
def test_bad_configs_are_refused(bad):
  with pytest.raises(ConfigError, match="FTPConfig"):
    dataclasses.replace(CFG, **bad)


def test_smoke_config_trains(tmp_path):
  cfg = config_lib.load_config("ftp.py:smoke", ["mesh.data=1"])
  summary = loop.run(cfg, tmp_path, devices=jax.devices()[:1])
  assert summary["step"] == cfg.steps and np.isfinite(summary["train_loss"])
