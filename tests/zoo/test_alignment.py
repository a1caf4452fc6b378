"""zoo.interp.alignment: Pearson matrices against numpy (affine invariance,
constant units dropped and listed), matching against brute force and a
permuted copy, LASSO against least squares, sparse prediction, spectral
groups, CKA's invariances and Procrustes against scipy; bad input."""

import itertools

import jax
import numpy as np
import pytest
from scipy import linalg

from zoo.interp import alignment as al


def _relu_units(rng, samples=400, units=10):
  """Correlated, partly sparse activations [samples, units]."""
  mix = rng.normal(size=(6, units))
  return np.maximum(rng.normal(size=(samples, 6)) @ mix, 0.0) + 0.1 * (
      rng.normal(size=(samples, units)))


def test_permuted_affine_copy_is_recovered_with_r_1():
  rng = np.random.default_rng(0)
  a = _relu_units(rng)
  perm = rng.permutation(a.shape[1])
  b = a[:, perm] * rng.uniform(0.5, 3.0, a.shape[1]) + rng.normal(
      size=a.shape[1])
  c = al.correlation(a, b)
  rows, cols, r = al.bipartite_match(c.matrix)
  np.testing.assert_array_equal(rows, np.arange(a.shape[1]))
  np.testing.assert_array_equal(cols, np.argsort(perm))  # b[:, j] = a[:, p_j]
  np.testing.assert_allclose(r, 1.0, atol=1e-5)
  semi_cols, semi_r = al.semi_match(c.matrix)
  np.testing.assert_array_equal(semi_cols, cols)
  np.testing.assert_allclose(semi_r, 1.0, atol=1e-5)


@pytest.mark.parametrize("shape", [(5, 5), (4, 6), (6, 3)])
def test_bipartite_match_is_one_to_one_and_optimal(shape):
  rng = np.random.default_rng(sum(shape))
  matrix = rng.uniform(-1, 1, shape).astype(np.float32)
  rows, cols, r = jax.jit(al.bipartite_match)(matrix)
  k = min(shape)
  assert len(set(np.asarray(rows).tolist())) == k == len(set(
      np.asarray(cols).tolist()))
  np.testing.assert_allclose(r, matrix[rows, cols])
  # Brute force: every injective map of the shorter side into the longer.
  square = matrix if shape[0] <= shape[1] else matrix.T
  best = max(sum(square[i, j] for i, j in enumerate(cols_of_rows))
             for cols_of_rows in itertools.permutations(
                 range(square.shape[1]), k))
  np.testing.assert_allclose(float(np.sum(r)), best, rtol=1e-5)
  semi_cols, semi_r = al.semi_match(matrix)
  np.testing.assert_array_equal(semi_cols, matrix.argmax(1))
  np.testing.assert_allclose(semi_r, matrix.max(1))


def test_correlation_is_numpy_pearson_and_affine_invariant():
  rng = np.random.default_rng(1)
  a, b = _relu_units(rng, units=7), _relu_units(rng, units=5)
  c = al.correlation(a, b)
  np.testing.assert_allclose(c.matrix, np.corrcoef(a.T, b.T)[:7, 7:],
                             atol=2e-6)
  scale = rng.uniform(0.01, 100, 7) * rng.choice([-1, 1], 7)
  moved = al.correlation(a * scale + rng.normal(size=7) * 50, b)
  np.testing.assert_allclose(moved.matrix, c.matrix * np.sign(scale)[:, None],
                             atol=2e-5)
  within = al.correlation(a)
  np.testing.assert_allclose(np.diag(within.matrix), 1.0, atol=1e-6)
  np.testing.assert_allclose(within.matrix, within.matrix.T, atol=1e-7)


def test_constant_units_are_dropped_and_listed_never_nan():
  rng = np.random.default_rng(2)
  a, b = _relu_units(rng, units=6), _relu_units(rng, units=4)
  a[:, 1], a[:, 4], b[:, 0] = 0.0, 2.5, -7.0
  c = al.correlation(a, b)
  np.testing.assert_array_equal(c.constant_a, [1, 4])
  np.testing.assert_array_equal(c.kept_a, [0, 2, 3, 5])
  np.testing.assert_array_equal(c.constant_b, [0])
  np.testing.assert_array_equal(c.kept_b, [1, 2, 3])
  assert np.all(np.isfinite(c.matrix))
  np.testing.assert_allclose(c.matrix, np.corrcoef(
      a[:, c.kept_a].T, b[:, c.kept_b].T)[:4, 4:], atol=2e-6)
  with pytest.raises(ValueError, match="every unit of b is constant"):
    al.correlation(a, np.ones((len(a), 3)))


def test_lasso_at_alpha_to_zero_is_least_squares():
  rng = np.random.default_rng(3)
  x = rng.normal(size=(200, 5))
  y = x @ rng.normal(size=(5, 2)) + 0.3 * rng.normal(size=(200, 2)) + 4.0
  weights, intercepts = al.lasso(x, y, alpha=1e-9)
  design = np.concatenate([x, np.ones((200, 1))], axis=1)
  ols = np.linalg.lstsq(design, y, rcond=None)[0]  # [6, 2]
  np.testing.assert_allclose(weights, ols[:5].T, atol=1e-6)
  np.testing.assert_allclose(intercepts, ols[5], atol=1e-6)
  # A large alpha zeroes every weight: the intercept is the mean.
  weights, intercepts = al.lasso(x, y, alpha=100.0)
  assert not weights.any()
  np.testing.assert_allclose(intercepts, y.mean(0))


def test_sparse_prediction_keeps_few_inputs_and_reports_true_r2():
  rng = np.random.default_rng(4)
  x = rng.normal(size=(300, 8))
  y = np.stack([x[:, 0] + x[:, 3] - x[:, 5],           # three inputs
                x[:, 2] + 0.5 * rng.normal(size=300)],  # one, noisy
               axis=1)
  fits = {k: al.sparse_prediction(x, y, max_inputs=k) for k in (1, 2, 4)}
  xs, ys = (x - x.mean(0)) / x.std(0), (y - y.mean(0)) / y.std(0)
  for k, fit in fits.items():
    assert np.all(fit.num_inputs <= k)
    direct = 1 - np.mean((ys - xs @ fit.weights.T)**2, axis=0)
    np.testing.assert_allclose(fit.explained, direct, atol=1e-9)
  assert np.all(fits[1].explained <= fits[2].explained + 1e-12)
  assert np.all(fits[2].explained <= fits[4].explained + 1e-12)
  assert fits[4].explained[0] > 0.99 and fits[4].num_inputs[0] == 3
  # One input: at most the best single unit's r^2 (LASSO shrinks).
  r2 = np.max(np.corrcoef(x.T, y.T)[:8, 8:]**2, axis=0)
  assert np.all(fits[1].explained <= r2 + 1e-9)
  np.testing.assert_allclose(fits[1].explained[1], r2[1], rtol=0.05)


def test_spectral_groups_pair_each_unit_with_its_copy():
  rng = np.random.default_rng(5)
  factors = rng.normal(size=(500, 3))
  a = np.repeat(factors, 3, axis=1) + 0.2 * rng.normal(size=(500, 9))
  perm = rng.permutation(9)
  b = a[:, perm] + 0.05 * rng.normal(size=(500, 9))
  a = np.concatenate([a, np.zeros((500, 1))], axis=1)  # a dead unit
  groups = al.spectral_groups(a, b, num_groups=3)
  assert groups.labels_a[9] == -1 and groups.mixed == 1.0
  np.testing.assert_array_equal(groups.labels_b, groups.labels_a[perm])
  # The groups are the factors.
  for f in range(3):
    assert len(set(groups.labels_a[3 * f:3 * f + 3].tolist())) == 1
  assert len(set(groups.labels_a[:9].tolist())) == 3


def _kernel_cka(a, b):
  """CKA in its kernel form: HSIC of centred linear Gram matrices."""
  h = np.eye(len(a)) - 1 / len(a)
  k_a, k_b = h @ a @ a.T @ h, h @ b @ b.T @ h
  return np.sum(k_a * k_b) / np.sqrt(np.sum(k_a**2) * np.sum(k_b**2))


def test_linear_cka_matches_kernel_form_and_is_invariant():
  rng = np.random.default_rng(6)
  a = _relu_units(rng, samples=60, units=6)
  b = a @ rng.normal(size=(6, 4)) + rng.normal(size=(60, 4))
  cka = float(al.linear_cka(a, b))
  np.testing.assert_allclose(cka, _kernel_cka(a, b), rtol=1e-4)
  q = np.linalg.qr(rng.normal(size=(6, 6)))[0]
  np.testing.assert_allclose(al.linear_cka(3.7 * a @ q + 2.0, b), cka,
                             rtol=1e-4)
  np.testing.assert_allclose(al.linear_cka(a, a), 1.0, rtol=1e-5)
  assert 0.0 <= cka <= 1.0


def test_orthogonal_procrustes_recovers_a_rotation_and_matches_scipy():
  rng = np.random.default_rng(7)
  a = rng.normal(size=(100, 5))
  q = np.linalg.qr(rng.normal(size=(5, 5)))[0]
  np.testing.assert_allclose(al.orthogonal_procrustes(a, a @ q), q, atol=1e-5)
  b = a @ q + 0.5 * rng.normal(size=(100, 5))
  rotation = np.asarray(al.orthogonal_procrustes(a, b))
  np.testing.assert_allclose(rotation, linalg.orthogonal_procrustes(a, b)[0],
                             atol=1e-5)
  np.testing.assert_allclose(rotation.T @ rotation, np.eye(5), atol=1e-5)


def test_bad_input_names_the_problem():
  good = np.random.default_rng(8).normal(size=(20, 3))
  with pytest.raises(ValueError, match="b has 19 samples, the other "
                                       "activations 20"):
    al.correlation(good, good[:19])
  nan = good.copy()
  nan[2, 1] = np.nan
  with pytest.raises(ValueError, match="a has NaN or infinite activations"):
    al.correlation(nan, good)
  with pytest.raises(ValueError, match=r"a must be \[samples, units\]"):
    al.correlation(good[:, 0], good)
  with pytest.raises(ValueError, match="needs >= 2 samples"):
    al.linear_cka(good[:1], good[:1])
  with pytest.raises(ValueError, match="x has constant units"):
    al.sparse_prediction(np.concatenate([good, np.ones((20, 1))], 1), good, 2)
  with pytest.raises(ValueError, match="max_inputs must be >= 1"):
    al.sparse_prediction(good, good, 0)
  with pytest.raises(ValueError, match="alpha must be > 0"):
    al.lasso(good, good, 0.0)
  with pytest.raises(ValueError, match=r"num_groups must be in \[2, 6\]"):
    al.spectral_groups(good, good, 7)
  with pytest.raises(ValueError, match="correlation matrix must be"):
    al.bipartite_match(np.zeros((0, 3)))
  with pytest.raises(ValueError, match="at least two axes"):
    al.as_units(np.zeros(5))
