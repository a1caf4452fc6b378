"""Top-AFA SAEs (`zoo.interp.top_afa`) and the SAE pieces they rest on:
TopK keeps exactly k per row and BatchTopK exactly k·B per batch (the
largest, by brute force); on an orthonormal decoder top-AFA picks exactly
the s latents of an s-sparse non-negative code and reconstructs it; k* is
invariant to scaling x and b_dec together; the AFA term vanishes at ||f|| =
||x|| (raw x); decoder rows stay unit-norm after optimizer steps, with the
row-parallel gradient dropped; AuxK fits the detached residual without a
second b_dec (sparsify #57, #134), with the MSE's mean scaling
(dictionary_learning #36); the `superposition` recipe; the configs and a
smoke run."""

import jax
import numpy as np
import optax
import pytest
from jax import numpy as jnp

from ops.sparse import topk_mask
from ops.sparse_codes import batch_topk_mask, top_afa_mask
from train import config as config_lib
from train import loop
from train.data.builders import superposition
from zoo import registry
from zoo.errors import ConfigError
from zoo.interp import top_afa
from zoo.interp.sae import (
  SAE,
  SAEConfig,
  SAEOutput,
  sae_loss,
  unit_norm_decoder,
)
from zoo.sharding import MeshConfig


def _sae(cfg: SAEConfig, batch: int = 32, seed: int = 0):
  """(model, variables with a random b_dec, x [batch, d])."""
  rng = np.random.default_rng(seed)
  x = jnp.asarray(rng.normal(size=(batch, cfg.d_in)), jnp.float32)
  model = SAE(cfg)
  variables = jax.jit(model.init)(jax.random.key(seed), x)
  params = dict(variables["params"], b_dec=jnp.asarray(
      0.3 * rng.normal(size=cfg.d_in), jnp.float32))
  return model, dict(variables, params=params), x


def _top_indices(values: np.ndarray, n: int) -> set:
  return set(np.argsort(-values, axis=None, kind="stable")[:n].tolist())


def test_topk_keeps_exactly_k_per_row_the_largest():
  x = np.random.default_rng(0).normal(size=(16, 64)).astype(np.float32)
  for k in (1, 5, 64):
    mask = np.asarray(topk_mask(jnp.asarray(x), k))
    np.testing.assert_array_equal(mask.sum(-1), k)
    for row, keep in zip(x, mask, strict=True):
      assert set(np.flatnonzero(keep)) == _top_indices(row, k)
  cfg = SAEConfig(d_in=16, width=64, activation="topk", k=5)
  model, variables, x = _sae(cfg)
  pre = np.asarray(model.apply(variables, x, method="pre_activations"))
  assert ((pre > 0).sum(-1) >= cfg.k).all()  # else fewer than k can fire
  f = np.asarray(model.apply(variables, x, method="encode"))
  np.testing.assert_array_equal((f > 0).sum(-1), cfg.k)
  for p_row, f_row in zip(pre, f, strict=True):
    assert set(np.flatnonzero(f_row)) == _top_indices(p_row, cfg.k)
    np.testing.assert_array_equal(f_row[f_row > 0], p_row[f_row > 0])


def test_batchtopk_keeps_exactly_kb_per_batch_not_per_row():
  rng = np.random.default_rng(1)
  x = rng.normal(size=(8, 32)).astype(np.float32)
  x[0] += 3.0  # row 0 holds most of the batch's largest entries
  mask = np.asarray(batch_topk_mask(jnp.asarray(x), 3))
  assert mask.sum() == 3 * 8
  assert set(np.flatnonzero(mask)) == _top_indices(x, 24)
  assert mask[0].sum() > 3 and (mask.sum(-1) < 3).any()
  ties = rng.integers(0, 3, (8, 32)).astype(np.float32)
  assert np.asarray(batch_topk_mask(jnp.asarray(ties), 5)).sum() == 40


def test_top_afa_finds_an_s_sparse_code_on_an_orthonormal_decoder():
  d, width, batch = 32, 24, 64
  rng = np.random.default_rng(2)
  rows = np.linalg.qr(rng.normal(size=(d, d)))[0][:width]  # orthonormal
  b_dec = rng.normal(size=d)
  support = rng.integers(1, width, batch)  # k* <= width - 1
  code = np.zeros((batch, width))
  for i, s in enumerate(support):
    code[i, rng.choice(width, s, replace=False)] = rng.uniform(0.5, 1.5, s)
  x = jnp.asarray(code @ rows + b_dec, jnp.float32)
  cfg = SAEConfig(d_in=d, width=width, activation="top_afa", k=1)
  model = SAE(cfg)
  variables = model.init(jax.random.key(0), x)
  variables = dict(variables, params={
      "W_enc": jnp.asarray(rows.T, jnp.float32),
      "W_dec": jnp.asarray(rows, jnp.float32),
      "b_dec": jnp.asarray(b_dec, jnp.float32)})
  out = model.apply(variables, x)
  f = np.asarray(out.f)
  np.testing.assert_array_equal((f > 0).sum(-1), support)
  np.testing.assert_array_equal(f > 0, code > 0)
  np.testing.assert_allclose(f, code, atol=1e-5)
  np.testing.assert_allclose(out.x_hat, x, atol=1e-5)
  _, k = top_afa_mask(out.pre, jnp.ones(width),
                      jnp.linalg.norm(x - b_dec, axis=-1))
  np.testing.assert_array_equal(k, support)


def test_k_star_is_invariant_to_scaling_x_and_b_dec_together():
  cfg = SAEConfig(d_in=16, width=64, activation="top_afa")
  model, variables, x = _sae(cfg, batch=128, seed=3)
  f = np.asarray(model.apply(variables, x, method="encode"))
  assert len(set((f > 0).sum(-1).tolist())) > 3  # k* varies by row
  for c in (0.125, 2.0, 3.7, 32.0):
    params = dict(variables["params"], b_dec=c * variables["params"]["b_dec"])
    scaled = np.asarray(model.apply(dict(variables, params=params), c * x,
                                    method="encode"))
    np.testing.assert_array_equal(scaled > 0, f > 0)
    np.testing.assert_allclose(scaled, c * f, rtol=1e-5, atol=1e-6)


def test_afa_term_is_zero_at_equal_norms_and_reads_the_raw_x():
  cfg = SAEConfig(d_in=8, width=16, activation="top_afa", k=1, afa_coeff=0.5,
                  aux_k=0)
  rng = np.random.default_rng(4)
  x = jnp.asarray(rng.normal(size=(6, 8)) + 2.0, jnp.float32)
  f = jnp.asarray(rng.uniform(0, 1, (6, 16)) * (rng.random((6, 16)) < 0.3),
                  jnp.float32) + jnp.eye(6, 16)
  f = f * (jnp.linalg.norm(x, axis=-1) / jnp.linalg.norm(f, axis=-1))[:, None]
  # b_dec far from 0: the term must read ||x||, not ||x - b_dec||.
  params = {"W_dec": jnp.eye(16, 8), "b_dec": jnp.full(8, 5.0)}
  inactive = jnp.zeros(16, jnp.int32)
  _, terms = sae_loss(cfg, params, SAEOutput(x, f, f), x, inactive)
  assert abs(float(terms["afa"])) < 1e-5
  _, terms = sae_loss(cfg, params, SAEOutput(x, 1.5 * f, f), x, inactive)
  want = 0.5 * np.mean((0.5 * np.linalg.norm(np.asarray(x), axis=-1)) ** 2)
  np.testing.assert_allclose(terms["afa"], want, rtol=1e-5)


def _grads(model, variables, x, inactive):
  def loss(params):
    out = model.apply(dict(variables, params=params), x)
    return sae_loss(model.config, params, out, x, inactive)[0]

  return jax.grad(loss)(variables["params"])


def test_decoder_rows_stay_unit_norm_and_lose_the_parallel_gradient():
  cfg = SAEConfig(d_in=16, width=64, activation="topk", k=4, aux_k=0)
  model, variables, x = _sae(cfg, seed=5)
  inactive = jnp.zeros(64, jnp.int32)
  params = variables["params"]
  grads = _grads(model, variables, x, inactive)
  # SGD shows the projection: W' = unit_rows(W - lr (g - (g.w) w)).
  lr = 0.5
  tx = unit_norm_decoder(optax.sgd(lr))
  updates, _ = tx.update(grads, tx.init(params), params)
  new = optax.apply_updates(params, updates)
  w, g = np.asarray(params["W_dec"], np.float64), np.asarray(grads["W_dec"])
  step = w - lr * (g - (g * w).sum(-1, keepdims=True) * w)
  want = step / np.linalg.norm(step, axis=-1, keepdims=True)
  np.testing.assert_allclose(new["W_dec"], want, atol=1e-5)
  np.testing.assert_allclose(new["W_enc"], params["W_enc"] - lr * grads[
      "W_enc"], atol=1e-6)
  # Adam, several steps: rows unit-norm each time; others as plain Adam.
  tx, plain = unit_norm_decoder(optax.adam(1e-2)), optax.adam(1e-2)
  state, plain_state = tx.init(params), plain.init(params)
  for _ in range(3):
    grads = _grads(model, dict(variables, params=params), x, inactive)
    updates, state = tx.update(grads, state, params)
    plain_updates, plain_state = plain.update(grads, plain_state, params)
    np.testing.assert_allclose(updates["W_enc"], plain_updates["W_enc"],
                               atol=1e-7)
    params = optax.apply_updates(params, updates)
    np.testing.assert_allclose(np.linalg.norm(params["W_dec"], axis=-1), 1.0,
                               atol=1e-6)


def test_auxk_fits_the_detached_residual_with_b_dec_once():
  cfg = SAEConfig(d_in=16, width=64, activation="topk", k=4, aux_k=8,
                  dead_after=5)
  model, variables, x = _sae(cfg, seed=6)
  inactive = jnp.where(jnp.arange(64) >= 32, 5, 0).astype(jnp.int32)
  # A large b_dec, so that adding it twice would show.
  params = dict(variables["params"], b_dec=jnp.full(16, 2.0))
  variables = dict(variables, params=params)
  out = model.apply(variables, x)
  _, terms = sae_loss(cfg, params, out, x, inactive)
  # Brute force: each row's 8 largest dead pre-activations decode (no
  # b_dec) the residual x - x_hat; means over all B·d entries, as the MSE.
  pre, w = np.asarray(out.pre, np.float64), np.asarray(params["W_dec"])
  residual = np.asarray(x - out.x_hat, np.float64)
  recon = np.zeros_like(residual)
  for i, row in enumerate(pre):
    for j in _top_indices(row[32:], 8):
      recon[i] += row[32 + j] * w[32 + j]
  aux = ((recon - residual) ** 2).sum() / residual.size
  np.testing.assert_allclose(terms["auxk"], cfg.aux_penalty * aux, rtol=1e-5)
  np.testing.assert_allclose(terms["mse"], (residual ** 2).sum()
                             / residual.size, rtol=1e-5)
  b_dec = np.asarray(params["b_dec"])
  twice = ((recon + b_dec - residual) ** 2).sum() / residual.size
  assert abs(twice - aux) > 0.01 * aux  # so the match above rules it out
  # Detached: the live latents' rows move x_hat (so the residual), never
  # the AuxK term; the dead rows it uses get gradient.
  def auxk(p):
    o = model.apply(dict(variables, params=p), x)
    return sae_loss(cfg, p, o, x, inactive)[1]["auxk"]

  g = np.asarray(jax.grad(auxk)(params)["W_dec"])
  fired = np.asarray(out.f > 0).any(0)
  assert fired[:32].any()
  np.testing.assert_array_equal(g[:32], 0.0)
  assert np.abs(g[32:]).max() > 0


def test_superposition_follows_its_recipe():
  recipe = superposition.Recipe(num_train=512, num_test=64)
  data = superposition.generate(recipe)
  again = superposition.generate(recipe)
  directions = superposition.dictionary(recipe)
  np.testing.assert_allclose(np.linalg.norm(directions, axis=-1), 1.0,
                             atol=1e-6)
  for split, n in (("train", 512), ("test", 64)):
    arrays = data[split]
    for name, values in arrays.items():
      np.testing.assert_array_equal(values, again[split][name])
    s, ids, m = arrays["support"], arrays["features"], arrays["magnitudes"]
    assert arrays["vector"].shape == (n, 64) and s.shape == (n,)
    assert s.min() >= 2 and s.max() <= 10
    active = np.arange(10) < s[:, None]
    np.testing.assert_array_equal(ids >= 0, active)
    np.testing.assert_array_equal(m > 0, active)
    assert ((m[active] >= 0.5) & (m[active] <= 1.5)).all()
    for row in ids:
      assert len(set(row[row >= 0])) == (row >= 0).sum()
    want = np.einsum("nj,njd->nd", m, directions[np.maximum(ids, 0)])
    np.testing.assert_allclose(arrays["vector"], want, atol=1e-5)
  assert set(data["train"]["support"]) == set(range(2, 11))


def test_configs_share_all_but_the_activation_and_smoke_trains(tmp_path):
  afa, topk = (config_lib.load_config(s) for s in ("top_afa.py",
                                                   "top_afa.py:topk"))
  assert (afa.model.activation, topk.model.activation) == ("top_afa", "topk")
  assert topk.model.k == top_afa.TOPK_K and afa.model.afa_coeff > 0
  assert (afa.steps, afa.data, afa.optim, afa.model.width) == (
      topk.steps, topk.data, topk.optim, topk.model.width)
  assert registry.get("top_afa").default_config() == afa.model
  cfg = config_lib.load_config("top_afa.py:smoke")
  assert cfg.steps <= 50
  summary = loop.run(cfg, tmp_path / "run", devices=jax.devices()[:1])
  for key in ("train_mse", "train_afa", "nmse", "l0", "eps_max"):
    assert np.isfinite(summary[key])
  assert (tmp_path / "run" / "zf_plot.png").exists()
  run, state, _ = loop.load(tmp_path / "run", mesh=MeshConfig(data=1),
                            devices=jax.devices()[:1])
  np.testing.assert_allclose(
      np.linalg.norm(run.variables(state)["params"]["W_dec"], axis=-1), 1.0,
      atol=1e-5)


def test_bad_input_is_one_clear_error():
  with pytest.raises(ConfigError, match="steps"):
    config_lib.load_config("top_afa.py:steps=-1")
  model, variables, _ = _sae(top_afa.TOY, batch=2)
  with pytest.raises(ValueError, match="d_in=64"):
    model.apply(variables, jnp.zeros((2, 32)))
