"""convergent: the CNN's hook points and their shapes, bad input, and the
smoke config trained through the loop (task and accuracy evaluator)."""

import jax
import numpy as np
import pytest
from jax import numpy as jnp

from train import config as config_lib
from train import loop
from train.tasks import image_classification
from zoo.errors import ConfigError
from zoo.interp import alignment, hooks
from zoo.interp import convergent as cv


def test_hook_points_are_the_post_relu_units_of_each_layer():
  model = cv.ConvergentCNN(cv.ConvergentConfig())
  images = np.random.default_rng(0).uniform(0, 1, (3, 8, 8)).astype(
      np.float32)
  assert hooks.points(model, images) == cv.LAYERS
  variables = model.init(jax.random.key(0), images)
  logits, acts = hooks.capture(model, variables, images, points=cv.LAYERS)
  assert logits.shape == (3, 10)
  shapes = {k: v.shape for k, v in acts.items()}
  assert shapes == {"conv1": (3, 8, 8, 16), "conv2": (3, 4, 4, 32),
                    "fc": (3, 64)}
  assert all(bool(jnp.all(v >= 0)) for v in acts.values())  # post-ReLU
  # conv1's units are the ReLU of the filters' response at each position.
  params = variables["params"]["conv1_filters"]
  response = jax.lax.conv_general_dilated(
      images[..., None], params["kernel"], (1, 1), "SAME",
      dimension_numbers=("NHWC", "HWIO", "NHWC")) + params["bias"]
  np.testing.assert_allclose(acts["conv1"], np.maximum(response, 0),
                             atol=1e-6)
  assert alignment.as_units(acts["conv1"]).shape == (3 * 64, 16)


def test_bad_input_names_the_problem():
  model = cv.ConvergentCNN(cv.ConvergentConfig())
  with pytest.raises(ValueError, match=r"images must be \[B, 8, 8\]"):
    jax.eval_shape(model.init, jax.random.key(0), jnp.zeros((2, 8, 8, 1)))
  with pytest.raises(ConfigError, match="conv_widths must be two"):
    cv.ConvergentConfig(conv_widths=(16,))
  with pytest.raises(ConfigError, match="image_size must be a positive "
                                        "multiple of 4"):
    cv.ConvergentConfig(image_size=6)
  with pytest.raises(ConfigError, match="steps must be >= 1"):
    config_lib.load_config("convergent.py:steps=-3")


def test_smoke_config_trains_and_reports_test_accuracy(tmp_path):
  cfg = config_lib.load_config("convergent.py:smoke")
  assert cfg.steps <= 50
  summary = loop.run(cfg, tmp_path / "run", devices=jax.devices()[:1])
  assert summary["step"] == cfg.steps and np.isfinite(summary["train_loss"])
  assert 0.0 <= summary["test_accuracy"] <= 1.0
  # The task's accuracy is the argmax's.
  model = cv.ConvergentCNN(cfg.model)
  inputs = image_classification.prepare(
      {"image": np.zeros((4, 8, 8)), "label": [0, 1, 2, 3]})
  variables = image_classification.TASK.init(model, jax.random.key(1), inputs)
  _, (metrics, _) = image_classification.loss(model, variables, inputs, None)
  predicted = np.asarray(model.apply(variables, inputs["image"])).argmax(-1)
  assert float(metrics["accuracy"]) == np.mean(predicted == [0, 1, 2, 3])
