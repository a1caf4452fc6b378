"""atlas: the domains (rot90 of order 4, invert an involution, blur linear
and mean-preserving inside, noise clipped with the set sigma), the model
(Lam its only parameter, T*B of them; at Lam = 0 the task vectors add
nothing, bit for bit, and the output is the CNN's at theta0, linearised
too), balanced few-shot draws, a smoke run, and bad
input."""

import jax
import numpy as np
import pytest
from jax import numpy as jnp
from scipy import stats

from train import config as config_lib
from train import loop
from zoo.errors import ConfigError
from zoo.interp import atlas, task_vectors

CFG = atlas.AtlasConfig(pretrain_steps=1, finetune_steps=1)


def _images(n=4, seed=0):
  return jnp.asarray(np.random.default_rng(seed).random((n, 8, 8)),
                     jnp.float32)


def test_domains():
  x, key = _images(), jax.random.key(0)
  once = atlas.rot90(x)
  np.testing.assert_array_equal(once[:, 0, :], x[:, :, -1])  # anticlockwise
  np.testing.assert_array_equal(
      atlas.rot90(atlas.rot90(atlas.rot90(once))), x)
  np.testing.assert_allclose(atlas.invert(atlas.invert(x)), x, atol=1e-7)
  y = _images(seed=1)
  np.testing.assert_allclose(atlas.blur(x + 2 * y),
                             atlas.blur(x) + 2 * atlas.blur(y), atol=1e-6)
  np.testing.assert_allclose(atlas.blur(jnp.ones((1, 8, 8)))[0, 1:-1, 1:-1],
                             1.0, atol=1e-6)
  np.testing.assert_allclose(atlas.blur(x)[:, 3, 4],
                             x[:, 2:5, 3:6].mean(axis=(1, 2)), atol=1e-6)
  grey = atlas.noise(jnp.full((200, 8, 8), 0.5), key)
  assert 0.0 <= float(grey.min()) and float(grey.max()) <= 1.0
  # N(0.5, 0.3^2) clipped to [0, 1] at c = 0.5 / 0.3 sigmas.
  c = 0.5 / 0.3
  clipped_var = (2 * stats.norm.cdf(c) - 1 - 2 * c * stats.norm.pdf(c)
                 + 2 * c**2 * stats.norm.sf(c))
  assert abs(float(jnp.std(grey)) - 0.3 * np.sqrt(clipped_var)) < 0.01
  target = atlas.apply_domains(("rot90", "invert"), x, key)
  np.testing.assert_array_equal(target, atlas.invert(atlas.rot90(x)))


def _filled(cfg, seed=0):
  """The model with random theta0 and task vectors in its collection."""
  model = atlas.build(cfg)
  x = _images()
  variables = jax.jit(model.init)(jax.random.key(seed), x)
  theta0 = atlas.init_cnn(cfg, jax.random.key(seed + 1))
  rng = np.random.default_rng(seed)
  taus = jax.tree.map(lambda p: jnp.asarray(rng.normal(
      size=(len(cfg.domains), *p.shape)) * 0.1, jnp.float32), theta0)
  variables = {**variables, "task_vectors": {"theta0": theta0,
                                             "taus": taus}}
  return model, variables, x, theta0


@pytest.mark.parametrize("kw", [{}, {"coefficients": "isotropic"},
                                {"parts": 4}, {"linearised": True}])
def test_lam_is_the_only_parameter_and_zero_gives_theta0(kw):
  cfg = atlas.AtlasConfig(**kw)
  model, variables, x, theta0 = _filled(cfg)
  (name, lam), = variables["params"].items()
  t, b = len(cfg.domains), atlas.num_blocks(cfg)
  assert name == "lam" and b == 8 and not np.any(lam)
  assert lam.size == {"isotropic": t}.get(cfg.coefficients, t * b * cfg.parts)
  apply = jax.jit(model.apply)
  out = apply(variables, x)
  # Bit for bit: the task vectors contribute nothing at Lam = 0.
  no_taus = jax.tree.map(jnp.zeros_like, variables["task_vectors"]["taus"])
  np.testing.assert_array_equal(out, apply({**variables, "task_vectors": {
      "theta0": theta0, "taus": no_taus}}, x))
  # A separately compiled CNN may order its sums otherwise (XLA lays out
  # computed weights freely, input weights not): equal to float precision.
  np.testing.assert_allclose(out, jax.jit(atlas.classifier(cfg))(theta0, x),
                             rtol=1e-6, atol=1e-6)


def test_model_output_is_the_composed_cnn():
  model, variables, x, theta0 = _filled(CFG, seed=3)
  lam = jnp.asarray(np.random.default_rng(4).normal(size=(4, 8)), jnp.float32)
  variables = {**variables, "params": {"lam": lam}}
  want = atlas.classifier(CFG)(task_vectors.compose(
      theta0, variables["task_vectors"]["taus"], lam), x)
  np.testing.assert_allclose(model.apply(variables, x), want, rtol=1e-5,
                             atol=1e-5)


def test_few_shot_rows_are_balanced_distinct_and_seeded():
  labels = np.repeat(np.arange(10), 20)
  rows = atlas.few_shot_rows(labels, 5, seed=0)
  assert len(set(rows)) == 50
  np.testing.assert_array_equal(np.bincount(labels[rows]), [5] * 10)
  np.testing.assert_array_equal(rows, atlas.few_shot_rows(labels, 5, 0))
  assert not np.array_equal(rows, atlas.few_shot_rows(labels, 5, 1))


def test_smoke_config_trains_lam_only(tmp_path):
  cfg = config_lib.load_config("atlas.py:smoke")
  assert cfg.steps <= 50
  summary = loop.run(cfg, tmp_path / "run", devices=jax.devices()[:1])
  assert np.isfinite(summary["train_loss"])
  assert 0.0 <= summary["train_accuracy"] <= 1.0
  run, state, _ = loop.load(tmp_path / "run", devices=jax.devices()[:1])
  variables = jax.device_get(run.variables(state))
  assert set(variables["params"]) == {"lam"}
  assert np.any(variables["params"]["lam"])  # Lam moved from zero
  taus = variables["task_vectors"]["taus"]
  assert jax.tree.leaves(taus)[0].shape[0] == 4 and any(
      np.any(leaf) for leaf in jax.tree.leaves(taus))


def test_bad_input_is_one_clear_error():
  with pytest.raises(ConfigError, match=r"unknown domain\(s\) \['rot45'\]"):
    atlas.AtlasConfig(target=("rot45",))
  with pytest.raises(ConfigError, match="1 when isotropic"):
    atlas.AtlasConfig(coefficients="isotropic", parts=2)
  theta0 = atlas.init_cnn(CFG, jax.random.key(0))
  other = atlas.init_cnn(atlas.AtlasConfig(hidden=32), jax.random.key(0))
  with pytest.raises(ValueError, match=r"\['Dense_0'\]\['bias'\]: theta0 "
                     r"has shape \(64,\), the task vectors \(32,\)"):
    task_vectors.task_vectors(theta0, [other])
