"""The jitted probes solve scikit-learn's problems: same coefficients."""

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression, Ridge

from zoo.interp import probes

TOL = 1e-3


def _classes(rng, n, f, k):
  x = rng.normal(size=(n, f)).astype(np.float32)
  w = rng.normal(size=(f, k))
  return x, np.argmax(x @ w + rng.gumbel(size=(n, k)), axis=1)


@pytest.mark.parametrize("k,c,fit_intercept", [(2, 0.5, True),
                                                (3, 2.0, False)])
def test_logistic_equals_sklearn(k, c, fit_intercept):
  x, labels = _classes(np.random.default_rng(k), 240, 12, k)
  x[:, 0] += 0.7  # an offset for the intercept to absorb
  probe = probes.logistic_probe(x, labels, c=c, fit_intercept=fit_intercept)
  ref = LogisticRegression(C=c, fit_intercept=fit_intercept, tol=1e-12,
                           max_iter=10_000).fit(x.astype(np.float64), labels)
  np.testing.assert_allclose(probe.coef, ref.coef_, atol=TOL)
  np.testing.assert_allclose(probe.intercept, ref.intercept_, atol=TOL)
  np.testing.assert_array_equal(probe.predict(x), ref.predict(x))


@pytest.mark.parametrize("targets_2d,fit_intercept", [(False, True),
                                                      (True, False)])
def test_ridge_equals_sklearn(targets_2d, fit_intercept):
  rng = np.random.default_rng(7)
  x = rng.normal(size=(150, 20)).astype(np.float32) + 1.5
  y = x @ rng.normal(size=(20, 3)) + rng.normal(size=(150, 3))
  y = y if targets_2d else y[:, 0]
  probe = probes.ridge_probe(x, y, alpha=4.0, fit_intercept=fit_intercept)
  ref = Ridge(alpha=4.0, fit_intercept=fit_intercept).fit(
      x.astype(np.float64), y)
  np.testing.assert_allclose(probe.coef, ref.coef_.reshape(-1, 20),
                             atol=TOL)
  np.testing.assert_allclose(probe.intercept,
                             np.broadcast_to(ref.intercept_,
                                             probe.intercept.shape),
                             atol=TOL)


def test_bad_input_is_named():
  x = np.zeros((4, 3), np.float32)
  with pytest.raises(ValueError, match="labels must cover"):
    probes.logistic_probe(x, np.array([0, 2, 0, 2]))
  with pytest.raises(ValueError, match="c must be > 0"):
    probes.logistic_probe(x, np.array([0, 1, 0, 1]), c=0.0)
  with pytest.raises(ValueError, match="x has 4 rows"):
    probes.ridge_probe(x, np.zeros(5))
  with pytest.raises(ValueError, match="NaN"):
    probes.ridge_probe(np.full((4, 3), np.nan), np.zeros(4))
  with pytest.raises(ValueError, match="alpha"):
    probes.ridge_probe(x, np.zeros(4), alpha=-1.0)
