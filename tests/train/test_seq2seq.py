"""seq2seq and seq2seq_kd: the CE is the mean NLL of the target, the KD
slice picks the teacher positions predicting target tokens 1..n, KL is 0
at student = teacher, KL weight 0 gives the CE, the compared models match
in size, and :smoke trains."""

import jax
import numpy as np
import pytest
from jax import numpy as jnp

from train import config as config_lib
from train import loop
from train.data.builders import digit_frequency as df
from train.tasks import seq2seq, seq2seq_kd
from zoo import registry
from zoo.lm.decoder import DecoderConfig, DecoderLM


@pytest.fixture(scope="module")
def smoke():
  cfg = config_lib.load_config("encdec_slm.py:smoke")
  model = registry.build(cfg.system, cfg.model)
  inputs = seq2seq.prepare(
      df.generate(df.Recipe(num_train=3, num_test=1))["train"])
  return model, seq2seq.init(model, jax.random.key(0), inputs), inputs


def test_the_loss_is_the_mean_nll_of_the_target(smoke):
  model, variables, inputs = smoke
  loss, _ = seq2seq.loss(model, variables, inputs, None)
  logits = model.apply(variables, inputs["source"], inputs["target"][:, :-1])
  nll = -np.take_along_axis(np.asarray(jax.nn.log_softmax(logits)),
                            inputs["target"][:, 1:, None], -1)
  np.testing.assert_allclose(loss, nll.mean(), rtol=1e-5)


def test_the_teacher_slice_predicts_target_tokens_1_to_n():
  s, n = 7, 4
  tokens = np.arange(s + 1 + n)  # [source; BOS; target 1..n]
  logits = jnp.broadcast_to(jnp.arange(s + 1 + n)[None, :, None],
                            (2, s + 1 + n, 3))  # logit = position
  picked = np.asarray(seq2seq_kd.teacher_slice(logits, s, n))[0, :, 0]
  np.testing.assert_array_equal(tokens[picked + 1], tokens[s + 1:])


def test_kl_vanishes_at_the_teacher_and_weight_0_is_ce():
  student = jax.random.normal(jax.random.key(1), (2, 5, 14))
  teacher = jnp.concatenate(
      [student, jax.random.normal(jax.random.key(2), (2, 5, 3))], -1)
  total, divergence = seq2seq_kd.kd_objective(teacher, student, 0.7, 0.9)
  np.testing.assert_allclose(divergence, 0.0, atol=1e-6)
  np.testing.assert_allclose(total, 0.07, rtol=1e-5)
  other = jax.random.normal(jax.random.key(3), (2, 5, 17))
  total, divergence = seq2seq_kd.kd_objective(other, student, 0.7, 0.0)
  assert divergence > 0
  np.testing.assert_allclose(total, 0.7, rtol=1e-6)


def test_the_kd_task_with_weight_0_gives_the_ce_loss(smoke):
  model, variables, inputs = smoke
  teacher = DecoderLM(DecoderConfig(vocab_size=20, embed_dim=8, num_layers=1,
                                    num_heads=2, mlp_dim=8))
  tokens = jnp.concatenate([inputs["source"], inputs["target"]], 1)
  teacher_params = teacher.init(jax.random.key(4), tokens)["params"]
  task = seq2seq_kd.task(teacher, teacher_params, 14, kl_weight=0.0)
  kd, (metrics, _) = task.loss(model, variables, inputs, jax.random.key(5))
  ce, _ = seq2seq.loss(model, variables, inputs, None)
  np.testing.assert_allclose(kd, ce, rtol=1e-6)
  assert metrics["kl"] > 0  # the sampled targets were scored
  with pytest.raises(ValueError, match="teacher vocabulary 20"):
    seq2seq_kd.task(teacher, teacher_params, 21)


def test_compared_models_are_within_three_percent():
  counts = {}
  for flag in ("encdec", "decoder"):
    cfg = config_lib.load_config(f"encdec_slm.py:model={flag}")
    model = registry.build(cfg.system, cfg.model)
    args = ((jnp.zeros((1, 8), jnp.int32),) * (2 if flag == "encdec" else 1))
    shapes = jax.eval_shape(model.init, jax.random.key(0), *args)
    counts[flag] = sum(int(np.prod(x.shape))
                       for x in jax.tree.leaves(shapes))
  assert abs(counts["decoder"] / counts["encdec"] - 1) <= 0.03, counts


def test_smoke_trains(tmp_path):
  (tmp_path / "data").mkdir()
  cfg = config_lib.load_config("encdec_slm.py:smoke", [
      f"data.data_dir={tmp_path / 'data'}", "mesh.data=1"])
  summary = loop.run(cfg, tmp_path / "run", devices=jax.devices()[:1])
  assert np.isfinite(summary["train_loss"])
