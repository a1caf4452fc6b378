"""ops.losses: InfoNCE against the hand formula, its symmetries and cap;
the stable sigmoid cross-entropy against the naive one."""

import math

import jax
import numpy as np
import pytest

from ops.losses import LOG_SCALE_INIT, MAX_SCALE, info_nce, sigmoid_bce


def _hand_info_nce(a, b, scale):
  """-mean_i log softmax_j(scale cos(a_i, b_j))[i], in float64."""
  a = a / np.linalg.norm(a, axis=1, keepdims=True)
  b = b / np.linalg.norm(b, axis=1, keepdims=True)
  logits = scale * a @ b.T
  logits -= logits.max(1, keepdims=True)
  log_p = logits - np.log(np.exp(logits).sum(1, keepdims=True))
  return -np.mean(np.diag(log_p))


@pytest.mark.parametrize("batch,dim", [(1, 3), (7, 5), (16, 32)])
def test_info_nce_is_the_formula(batch, dim):
  rng = np.random.default_rng(batch)
  a, b = rng.normal(size=(2, batch, dim))
  log_scale = rng.uniform(0, 4)
  one_sided = info_nce(a, b, log_scale, symmetric=False)
  np.testing.assert_allclose(one_sided, _hand_info_nce(a, b,
                                                       np.exp(log_scale)),
                             rtol=1e-5, atol=1e-6)
  both = info_nce(a, b, log_scale)
  expected = 0.5 * (_hand_info_nce(a, b, np.exp(log_scale))
                    + _hand_info_nce(b, a, np.exp(log_scale)))
  np.testing.assert_allclose(both, expected, rtol=1e-5, atol=1e-6)
  # Symmetric: swapping the sides changes nothing.
  np.testing.assert_allclose(info_nce(b, a, log_scale), both, rtol=1e-6)


def test_info_nce_invariant_to_a_joint_permutation_and_row_scale():
  rng = np.random.default_rng(0)
  a, b = rng.normal(size=(2, 12, 8))
  perm = rng.permutation(12)
  for symmetric in (True, False):
    ref = info_nce(a, b, LOG_SCALE_INIT, symmetric)
    np.testing.assert_allclose(
        info_nce(a[perm], b[perm], LOG_SCALE_INIT, symmetric), ref,
        rtol=1e-6)
    np.testing.assert_allclose(
        info_nce(a * rng.uniform(0.1, 9, (12, 1)), b, LOG_SCALE_INIT,
                 symmetric), ref, rtol=1e-5)
  # Permuting one side only changes the pairs, so the loss.
  assert abs(float(info_nce(a[perm], b, LOG_SCALE_INIT)) - float(ref)) > 1e-3


def test_scale_starts_at_clip_and_is_capped_at_100():
  assert math.isclose(math.exp(LOG_SCALE_INIT), 1 / 0.07)
  rng = np.random.default_rng(1)
  a, b = rng.normal(size=(2, 6, 4))
  capped = info_nce(a, b, math.log(MAX_SCALE))
  np.testing.assert_allclose(info_nce(a, b, 10.0), capped, rtol=1e-6)
  assert float(jax.grad(lambda s: info_nce(a, b, s))(10.0)) == 0.0
  assert float(jax.grad(lambda s: info_nce(a, b, s))(1.0)) != 0.0


def test_info_nce_rejects_bad_shapes():
  with pytest.raises(ValueError, match="a and b"):
    info_nce(np.ones((3, 4)), np.ones((4, 4)), 0.0)
  with pytest.raises(ValueError, match="log_scale"):
    info_nce(np.ones((3, 4)), np.ones((3, 4)), np.zeros(2))


def test_sigmoid_bce_is_the_naive_formula_and_stable():
  rng = np.random.default_rng(2)
  x = rng.normal(0, 3, (5, 7))
  y = rng.uniform(size=(5, 7))
  p = 1 / (1 + np.exp(-x))
  np.testing.assert_allclose(sigmoid_bce(x, y),
                             -(y * np.log(p) + (1 - y) * np.log1p(-p)),
                             rtol=1e-5, atol=1e-6)
  big = sigmoid_bce(np.array([1e4, -1e4]), np.array([0.0, 1.0]))
  np.testing.assert_allclose(big, [1e4, 1e4], rtol=1e-6)
  with pytest.raises(ValueError, match="one shape"):
    sigmoid_bce(np.ones(3), np.ones(4))
