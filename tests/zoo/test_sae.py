"""The SAE library: unit-norm decoder steps, dead-latent counts, b_dec
centring, latent search and refusals. (Per-activation properties: the
top_afa and sae_detox tests.)"""

import jax
import numpy as np
import optax
import pytest
from jax import numpy as jnp

from train.config import load_config
from train.data.builders import text_target_activations
from train.tasks import sae as sae_task
from zoo.errors import ConfigError
from zoo.interp import sae as sae_lib
from zoo.interp import steering

D, W = 8, 24


def _sae(**kw):
  cfg = sae_lib.SAEConfig(d_in=D, width=W, k=3, aux_k=4, **kw)
  x = jax.random.normal(jax.random.key(0), (32, D))
  model = sae_lib.SAE(cfg)
  return model, model.init(jax.random.key(1), x), x


def _loss(model, params, stats, x):
  out, _ = model.apply({"params": params, **stats}, x, mutable=["sae_stats"])
  return sae_lib.sae_loss(model.config, params, out, x,
                          stats["sae_stats"]["inactive"])[0]


def test_decoder_rows_stay_unit_norm_and_other_params_step_as_plain_adam():
  model, variables, x = _sae()
  params, stats = variables["params"], {"sae_stats": variables["sae_stats"]}
  wrapped = sae_lib.unit_norm_decoder(optax.adam(1e-2))
  plain = optax.adam(1e-2)
  s1, s2 = wrapped.init(params), plain.init(params)
  p1 = p2 = params
  for _ in range(5):
    g1 = jax.grad(_loss, 1)(model, p1, stats, x)
    g2 = jax.grad(_loss, 1)(model, p2, stats, x)
    u1, s1 = wrapped.update(g1, s1, p1)
    u2, s2 = plain.update(g2, s2, p2)
    p1, p2 = optax.apply_updates(p1, u1), optax.apply_updates(p2, u2)
  np.testing.assert_allclose(jnp.linalg.norm(p1["W_dec"], axis=-1), 1.0,
                             atol=1e-6)
  assert not np.allclose(jnp.linalg.norm(p2["W_dec"], axis=-1), 1.0,
                         atol=1e-4)
  # One step from equal params: the encoder moves exactly as plain Adam.
  g = jax.grad(_loss, 1)(model, params, stats, x)
  u1, _ = wrapped.update(g, wrapped.init(params), params)
  u2, _ = plain.update(g, plain.init(params), params)
  np.testing.assert_array_equal(u1["W_enc"], u2["W_enc"])


def test_a_gradient_along_the_rows_leaves_the_decoder_alone():
  _, variables, _ = _sae()
  params = variables["params"]
  tx = sae_lib.unit_norm_decoder(optax.sgd(0.1))
  grads = jax.tree.map(jnp.zeros_like, params)
  grads["W_dec"] = 3.0 * params["W_dec"]
  updates, _ = tx.update(grads, tx.init(params), params)
  np.testing.assert_allclose(updates["W_dec"], 0.0, atol=1e-6)


def test_inactive_counts_grow_for_silent_latents_and_reset_on_firing():
  model, variables, x = _sae()
  stats = variables["sae_stats"]
  for _ in range(3):
    out, updated = model.apply({"params": variables["params"],
                                "sae_stats": stats}, x, mutable=["sae_stats"])
    fired = np.asarray((out.f > 0).any(0))
    before = np.asarray(stats["inactive"])
    stats = updated["sae_stats"]
    np.testing.assert_array_equal(stats["inactive"],
                                  np.where(fired, 0, before + 1))
  assert (np.asarray(stats["inactive"]) == 3).any()  # some never fire


def test_geometric_median_minimises_the_summed_distances():
  x = jax.random.normal(jax.random.key(2), (40, 3))
  x = x.at[0].set(100.0)  # an outlier drags the mean, not the median
  m = sae_lib.geometric_median(x)
  total = lambda c: jnp.sum(jnp.linalg.norm(x - c, axis=-1))
  for step in jax.random.normal(jax.random.key(3), (20, 3)) * 0.05:
    assert total(m) <= total(m + step) + 1e-4
  assert jnp.linalg.norm(m) < 1.0 < jnp.linalg.norm(x.mean(0))
  model, variables, x = _sae(b_dec_init="mean")
  centred = sae_lib.init_b_dec(variables, x, "mean")
  np.testing.assert_allclose(centred["params"]["b_dec"], x.mean(0),
                             atol=1e-6)


def test_find_latents_ranks_the_mean_activation_gap():
  f_pos = jax.random.uniform(jax.random.key(4), (30, W))
  f_neg = jax.random.uniform(jax.random.key(5), (20, W))
  gap = np.asarray(f_pos.mean(0) - f_neg.mean(0))
  np.testing.assert_array_equal(steering.find_latents(f_pos, f_neg, 4),
                                np.argsort(-gap)[:4])


def test_steering_inside_jit_checks_concrete_ids_on_the_host():
  model, variables, x = _sae()
  params, cfg = variables["params"], model.config
  ids = steering.find_latents(x[:16, :W] ** 2, x[16:, :W] ** 2, 2)
  edit = jax.jit(lambda x: steering.steer(x, params, cfg, ids, 1.0,
                                          mode="conditional"))
  np.testing.assert_array_equal(
      edit(x), steering.steer(x, params, cfg, ids, 1.0, mode="conditional"))
  bad = jnp.array([30])
  with pytest.raises(ValueError, match=r"latent ids must be in \[0, 24\)"):
    jax.jit(lambda x: steering.steer(x, params, cfg, bad, 1.0))(x)


@pytest.mark.parametrize("kw, message", [
    ({"k": 0}, r"k must be in \[1, width=24\]"),
    ({"k": 25}, r"k must be in \[1, width=24\]"),
    ({"activation": "gelu"}, "activation must be one of"),
    ({"b_dec_init": "median"}, "b_dec_init must be one of"),
    ({"l1": -1.0}, "l1 must be a finite number"),
])
def test_bad_configs_are_refused(kw, message):
  with pytest.raises(ConfigError, match=message):
    sae_lib.SAEConfig(**{"d_in": D, "width": W, "k": 3, **kw})


def test_bad_inputs_are_refused_by_name():
  model, variables, x = _sae()
  with pytest.raises(ConfigError, match="model.d_in=8, but the dataset's "
                     "vectors have width 5"):
    sae_task.TASK.init(model, jax.random.key(0), {"x": x[:, :5]})
  with pytest.raises(ConfigError, match="k must be in"):
    sae_lib.SAEConfig(activation="top_afa", k=0)
  with pytest.raises(ValueError, match="width 5, but the SAE reads d_in=8"):
    model.apply(variables, x[:, :5])
  params, cfg = variables["params"], model.config
  with pytest.raises(ValueError, match=r"latent ids must be in \[0, 24\)"):
    steering.steer(x, params, cfg, jnp.array([3, 24]), 1.0)
  with pytest.raises(ValueError, match="mode must be one of"):
    steering.steer(x, params, cfg, jnp.array([3]), 1.0, mode="ablate")
  with pytest.raises(ValueError, match="k must be an int in"):
    steering.find_latents(x[:, :W], x[:, :W], 0)


def test_the_lm_config_reads_the_activations_dataset_at_its_width():
  cfg = load_config("top_afa.py:lm")
  assert cfg.data.name == "text_target_activations"
  assert cfg.model.d_in == text_target_activations.WIDTH

