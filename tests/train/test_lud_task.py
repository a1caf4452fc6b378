"""The LUD fine-tuning task: lexical units, reconfigured inputs, loss."""

import jax
import numpy as np
import pytest
from jax import numpy as jnp

from train import config as config_lib
from train.tasks import lud
from zoo.lm.decoder import DecoderConfig, DecoderLM
from zoo.lm.special_tokens import MASK


def _offsets_loop(gold_prob, alpha, max_len):
  """The definition, one target at a time."""
  offsets = []
  for i, p in enumerate(gold_prob):
    continues = (i > 0 and p >= alpha and gold_prob[i - 1] >= alpha
                 and offsets[-1] + 1 < max_len)
    offsets.append(offsets[-1] + 1 if continues else 0)
  return offsets


def test_units_on_a_hand_example():
  # Target 0 starts a unit even when confident; 0.9 is confident at alpha
  # 0.9, 0.899 is not; a confident target after an unconfident one starts a
  # unit (its real input is the unconfident token); the run of 0.91 and
  # 0.99s is cut after 4 tokens.
  gold_prob = [0.95, 0.95, 0.3, 0.9, 0.899, 0.91, 0.99, 0.99, 0.99, 0.99,
               0.1]
  offsets = lud.unit_offsets(jnp.asarray([gold_prob]), 0.9, 4)
  np.testing.assert_array_equal(offsets[0], [0, 1, 0, 0, 0, 0, 1, 2, 3, 0, 0])
  tokens = jnp.arange(10, 22)[None]  # inputs 10..20, targets 11..21
  np.testing.assert_array_equal(
      lud.reconfigure(tokens, offsets)[0],
      [10, MASK, 12, 13, 14, 15, MASK, MASK, MASK, 19, 20])


def test_placeholders_replace_only_inputs_the_model_was_sure_of():
  # A placeholder stands for a token the model predicted confidently from
  # the real tokens before it, so the look-ahead it trains is decidable.
  rng = np.random.default_rng(3)
  gold_prob = rng.uniform(size=(8, 64))
  offsets = np.asarray(lud.unit_offsets(jnp.asarray(gold_prob), 0.5, 5))
  masked_input = offsets[:, 1:] > 0  # input i + 1 is a placeholder
  assert masked_input.any()
  assert np.all(gold_prob[:, :-1][masked_input] >= 0.5)
  assert np.all(gold_prob[:, 1:][masked_input] >= 0.5)


@pytest.mark.parametrize("max_len", [1, 3, 50])
def test_units_match_the_definition_on_random_probabilities(max_len):
  rng = np.random.default_rng(max_len)
  gold_prob = rng.choice([0.2, 0.5, 0.85, 0.95], size=(6, 40))
  offsets = np.asarray(lud.unit_offsets(jnp.asarray(gold_prob), 0.85,
                                        max_len))
  for row, got in zip(gold_prob, offsets):
    np.testing.assert_array_equal(got, _offsets_loop(row, 0.85, max_len))


def test_reconfigured_inputs_replace_exactly_the_non_first_unit_tokens():
  rng = np.random.default_rng(0)
  tokens = rng.integers(4, 100, (4, 33))
  offsets = lud.unit_offsets(jnp.asarray(rng.uniform(size=(4, 32))), 0.5, 5)
  inputs = np.asarray(lud.reconfigure(jnp.asarray(tokens), offsets))
  non_first = np.asarray(offsets) > 0
  assert non_first.any() and not non_first.all()
  np.testing.assert_array_equal(inputs[non_first], MASK)
  np.testing.assert_array_equal(inputs[~non_first], tokens[:, :-1][~non_first])


def _loss(tokens):
  model = DecoderLM(DecoderConfig(vocab_size=64, embed_dim=32, num_layers=1,
                                  num_heads=2, mlp_dim=64))
  task = lud.TASK
  inputs = task.prepare({"tokens": tokens})
  variables = jax.jit(task.init, static_argnums=0)(
      model, jax.random.key(0), inputs)
  # A new function each call: traced with the current `lud.ALPHA`.
  return jax.jit(lambda v, x: task.loss(model, v, x, None))(variables, inputs)


def test_loss_without_confident_targets_is_the_next_token_loss():
  # A random model is never 90% sure: no units, the LUD inputs are the plain
  # ones.
  tokens = np.random.default_rng(1).integers(4, 64, (2, 17))
  loss, (metrics, _) = _loss(tokens)
  assert float(metrics["lookahead_fraction"]) == 0.0
  np.testing.assert_allclose(metrics["lud_nll"], metrics["nll"], rtol=1e-6)
  np.testing.assert_allclose(loss, metrics["nll"], rtol=1e-6)


def test_loss_with_every_target_confident(monkeypatch):
  monkeypatch.setattr(lud, "ALPHA", 0.0)
  tokens = np.random.default_rng(2).integers(4, 64, (2, 17))
  loss, (metrics, _) = _loss(tokens)
  # 16 targets in units of 5: offsets 0 at targets 0, 5, 10, 15.
  np.testing.assert_allclose(metrics["lookahead_fraction"], 12 / 16)
  assert float(metrics["lud_nll"]) != float(metrics["nll"])
  np.testing.assert_allclose(
      loss, (metrics["nll"] + metrics["lud_nll"]) / 2, rtol=1e-6)


def test_config_fine_tunes_the_text_target():
  cfg = config_lib.load_config("lud.py:smoke")
  assert (cfg.system, config_lib.task_of(cfg)) == ("lud", lud.TASK)
  assert cfg.data.name == "stdlib_text_bpe"
  assert cfg.init_from.endswith("text_smoke")
  target = config_lib.load_config("lm.py:corpus=text,size=target")
  assert config_lib.load_config("lud.py").model == target.model


def test_units_refuse_an_empty_cap():
  with pytest.raises(ValueError, match="max_len must be >= 1, got 0"):
    lud.unit_offsets(jnp.ones((1, 4)), 0.9, 0)
