"""SambaY's data, task and configs: MQAR's answers are recallable, only
they are scored, the compared models match in size, and :smoke trains."""

import jax
import numpy as np
from jax import numpy as jnp

from train import config as config_lib
from train import loop
from train.data.builders import mqar
from train.tasks import lm_masked_next_token
from zoo import registry


def test_every_query_is_answered_by_its_pair():
  recipe = mqar.Recipe(num_train=50, num_test=10)
  tokens = mqar.generate(recipe)["train"]
  p = recipe.num_pairs
  assert tokens.shape == (50, recipe.length)
  for row in tokens:
    pairs = row[1:1 + 2 * p].reshape(p, 2)
    queries = row[1 + 2 * p:].reshape(p, 2)
    assert len(set(pairs[:, 0])) == p  # distinct keys
    assert sorted(queries[:, 0]) == sorted(pairs[:, 0])
    lookup = dict(pairs.tolist())
    assert all(lookup[k] == v for k, v in queries.tolist())
  targets = tokens[0, 1:][mqar.target_mask(recipe)]
  np.testing.assert_array_equal(targets, tokens[0, 2 + 2 * p::2])


def test_the_loss_is_the_mean_nll_of_the_masked_targets():
  cfg = config_lib.load_config("sambay.py:smoke")
  model = registry.get(cfg.system).builder(cfg.model)
  tokens = mqar.generate(mqar.Recipe(num_train=4, num_test=1))["train"]
  mask = np.random.default_rng(0).random((4, 64)) < 0.3  # any mask
  inputs = lm_masked_next_token.prepare({"tokens": tokens,
                                         "target_mask": mask})
  variables = lm_masked_next_token.TASK.init(model, jax.random.key(0),
                                            inputs)
  loss, (metrics, _) = lm_masked_next_token.loss(model, variables, inputs,
                                                 None)
  logits = model.apply(variables, jnp.asarray(tokens[:, :-1]))
  nll = -np.take_along_axis(np.asarray(jax.nn.log_softmax(logits)),
                            tokens[:, 1:, None], -1)[..., 0]
  np.testing.assert_allclose(loss, nll[mask].mean(), rtol=1e-5)
  hits = np.asarray(jnp.argmax(logits, -1)) == tokens[:, 1:]
  np.testing.assert_allclose(metrics["accuracy"], hits[mask].mean(),
                             rtol=1e-6)


def test_compared_models_are_within_three_percent():
  counts = {}
  for flag in ("sambay", "yoco", "transformer"):
    cfg = config_lib.load_config(f"sambay.py:model={flag}")
    model = registry.get(cfg.system).builder(cfg.model)
    shapes = jax.eval_shape(model.init, jax.random.key(0),
                            jnp.zeros((1, 8), jnp.int32))
    counts[flag] = sum(int(np.prod(x.shape))
                       for x in jax.tree.leaves(shapes))
  for flag in ("yoco", "transformer"):
    assert abs(counts[flag] / counts["sambay"] - 1) <= 0.03, counts


def test_smoke_trains(tmp_path):
  (tmp_path / "data").mkdir()
  cfg = config_lib.load_config("sambay.py:smoke", [
      f"data.data_dir={tmp_path / 'data'}", "mesh.data=1"])
  summary = loop.run(cfg, tmp_path / "run", devices=jax.devices()[:1])
  assert np.isfinite(summary["train_loss"])
  assert 0.0 <= summary["train_accuracy"] <= 1.0
