"""task_vectors on a random two-layer network: Lam = 0 reproduces theta0
bit for bit, Lam constant over blocks is task arithmetic, dloss/dLam[t,b] =
<dloss/dtheta_b, tau_{t,b}> (autodiff and finite differences, also per
part of aTLAS x K), T*B trainables, the linearised model is the first-order
Taylor value, `fit` recovers a planted Lam, and bad input."""

import jax
import numpy as np
import optax
import pytest
from jax import numpy as jnp

from zoo.interp import task_vectors as tv

T = 3


def _net(params, x):  # [N, 5] -> [N, 3]
  h = jnp.tanh(x @ params["hidden"]["kernel"] + params["hidden"]["bias"])
  return h @ params["out"]["kernel"] + params["out"]["bias"]


def _setup(seed=0, scale=0.3):
  rng = np.random.default_rng(seed)
  shapes = {"hidden": {"kernel": (5, 4), "bias": (4,)},
            "out": {"kernel": (4, 3), "bias": (3,)}}
  draw = lambda s: jnp.asarray(rng.normal(size=s), jnp.float32)
  theta0 = jax.tree.map(draw, shapes, is_leaf=lambda s: isinstance(s, tuple))
  finetuned = [jax.tree.map(lambda p: p + scale * draw(p.shape), theta0)
               for _ in range(T)]
  x = draw((7, 5))
  y = jnp.asarray(rng.integers(0, 3, 7))
  return theta0, tv.task_vectors(theta0, finetuned), finetuned, x, y


def _loss(params, x, y):
  return jnp.mean(optax.softmax_cross_entropy_with_integer_labels(
      _net(params, x), y))


def test_task_vectors_are_differences_and_blocks_are_leaves():
  theta0, taus, finetuned, _, _ = _setup()
  assert tv.blocks(theta0) == ("['hidden']['bias']", "['hidden']['kernel']",
                               "['out']['bias']", "['out']['kernel']")
  np.testing.assert_array_equal(
      taus["out"]["kernel"][1],
      finetuned[1]["out"]["kernel"] - theta0["out"]["kernel"])
  # Lam = e_t (isotropic) gives back the t-th fine-tuned model.
  back = tv.compose(theta0, taus, jnp.eye(T)[2])
  for a, b in zip(jax.tree.leaves(back), jax.tree.leaves(finetuned[2])):
    np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("kind,parts", [("isotropic", 1), ("anisotropic", 1),
                                        ("anisotropic", 3)])
def test_zero_lam_is_theta0_bit_for_bit(kind, parts):
  theta0, taus, _, x, _ = _setup()
  lam = tv.coefficients(T, theta0, kind, parts)
  composed = jax.jit(tv.compose)(theta0, taus, lam)
  for a, b in zip(jax.tree.leaves(composed), jax.tree.leaves(theta0)):
    np.testing.assert_array_equal(a, b)
  apply = jax.jit(_net)
  np.testing.assert_array_equal(apply(composed, x), apply(theta0, x))


def test_lam_constant_over_blocks_is_task_arithmetic():
  theta0, taus, finetuned, _, _ = _setup(1)
  c = jnp.asarray([0.7, -0.2, 1.3])
  arithmetic = jax.tree.map(
      lambda p0, *ps: p0 + sum(ci * (p - p0) for ci, p in zip(c, ps)),
      theta0, *finetuned)
  b = len(tv.blocks(theta0))
  for lam in (c, jnp.tile(c[:, None], (1, b)),
              jnp.tile(c[:, None, None], (1, b, 4))):
    got = tv.compose(theta0, taus, lam)
    for u, v in zip(jax.tree.leaves(got), jax.tree.leaves(arithmetic)):
      np.testing.assert_allclose(u, v, rtol=1e-5, atol=1e-5)


def _inner_products(theta0, taus, lam, x, y, parts=1):
  """<dloss/dtheta_b, tau_{t,b}> at theta(Lam), per part: [T, B, K]."""
  grad = jax.grad(_loss)(tv.compose(theta0, taus, lam), x, y)
  out = np.zeros((T, len(tv.blocks(theta0)), parts))
  for b, (g, tau) in enumerate(zip(jax.tree.leaves(grad),
                                   jax.tree.leaves(taus))):
    index = tv.part_index(g.shape, parts)
    for t in range(T):
      for k in range(parts):
        out[t, b, k] = np.sum(np.asarray(g * tau[t])[index == k])
  return out


@pytest.mark.parametrize("parts", [1, 3])
def test_lam_gradient_is_inner_product_with_the_block(parts):
  theta0, taus, _, x, y = _setup(2)
  b = len(tv.blocks(theta0))
  lam = jnp.asarray(np.random.default_rng(3).normal(
      size=(T, b, parts)) * 0.5, jnp.float32)
  loss = jax.jit(lambda lam: _loss(tv.compose(theta0, taus, lam), x, y))
  want = _inner_products(theta0, taus, lam, x, y, parts)
  np.testing.assert_allclose(jax.grad(loss)(lam), want, rtol=1e-4,
                             atol=1e-6)
  eps = 1e-2
  steps = jnp.eye(lam.size).reshape(-1, *lam.shape) * eps
  finite = (jax.vmap(loss)(lam + steps) - jax.vmap(loss)(lam - steps)) / (
      2 * eps)
  np.testing.assert_allclose(finite.reshape(lam.shape), want, rtol=2e-2,
                             atol=2e-4)


def test_trainable_count_is_t_times_b():
  theta0, _, _, _, _ = _setup()
  b = len(jax.tree.leaves(theta0))
  assert tv.coefficients(T, theta0).size == T * b
  assert tv.coefficients(T, theta0, "isotropic").shape == (T,)
  assert tv.coefficients(T, theta0, parts=5).shape == (T, b, 5)


def test_part_index_splits_blocks_into_equal_runs_and_a_tail():
  for shape, parts in (((5, 4), 3), ((3,), 3), ((7,), 2), ((2,), 4)):
    index = tv.part_index(shape, parts).ravel()
    assert np.all(np.diff(index) >= 0) and index.max() < parts
    counts = np.bincount(index, minlength=parts)
    run = -(-index.size // parts)
    full = index.size // run
    np.testing.assert_array_equal(counts[:full], run)
    assert counts[full:].sum() == index.size - full * run


def test_linearised_is_the_first_order_taylor_value():
  theta0, taus, _, x, _ = _setup(4)
  apply = jax.jit(tv.linearised(_net, theta0, taus))
  f0 = _net(theta0, x)
  lam = jnp.asarray(np.random.default_rng(5).normal(
      size=(T, len(tv.blocks(theta0)))), jnp.float32)
  np.testing.assert_array_equal(apply(jnp.zeros_like(lam), x), f0)
  small = 1e-3 * lam
  np.testing.assert_allclose(apply(small, x),
                             _net(tv.compose(theta0, taus, small), x),
                             atol=1e-4)
  # Affine in Lam, unlike the network itself.
  np.testing.assert_allclose(apply(2 * lam, x) - f0,
                             2 * (apply(lam, x) - f0), rtol=1e-4, atol=1e-4)


def test_fit_trains_only_lam_and_recovers_a_planted_lam():
  theta0, taus, _, x, _ = _setup(6)
  b = len(tv.blocks(theta0))
  planted = jnp.asarray(np.random.default_rng(7).uniform(
      -1, 1, (T, b)), jnp.float32)
  target = _net(tv.compose(theta0, taus, planted), x)
  loss = lambda lam: jnp.mean(
      (_net(tv.compose(theta0, taus, lam), x) - target) ** 2)
  lam, losses = tv.fit(loss, tv.coefficients(T, theta0),
                       optax.adam(0.05), 600)
  assert losses.shape == (600,) and losses[-1] < 1e-3 * losses[0]
  np.testing.assert_allclose(_net(tv.compose(theta0, taus, lam), x), target,
                             atol=2e-2)


def test_bad_input_is_one_clear_error():
  theta0, taus, finetuned, _, _ = _setup()
  missing = {"hidden": finetuned[0]["hidden"]}
  with pytest.raises(ValueError, match=r"fine-tuned tree 1 .*first "
                     r"differing path.*\['out'\]\['bias'\].*nothing"):
    tv.task_vectors(theta0, [finetuned[0], missing])
  wide = jax.tree.map(lambda p: p, taus)
  wide["out"]["kernel"] = jnp.zeros((T, 4, 9))
  with pytest.raises(ValueError, match=r"\['out'\]\['kernel'\]: theta0 has "
                     r"shape \(4, 3\), the task vectors \(3, 4, 9\)"):
    tv.compose(theta0, wide, tv.coefficients(T, theta0))
  renamed = {"hidden": taus["hidden"], "head": taus["out"]}
  with pytest.raises(ValueError, match="first differing path"):
    tv.compose(theta0, renamed, tv.coefficients(T, theta0))
  with pytest.raises(ValueError, match=r"T=3 task vectors and B=4 blocks, "
                     r"got shape \(3, 5\)"):
    tv.compose(theta0, taus, jnp.zeros((3, 5)))
  with pytest.raises(ValueError, match="isotropic or anisotropic"):
    tv.coefficients(T, theta0, "layerwise")
