"""zoo.vq.leanvec: projections, their loss, LVQ and the re-ranked search."""

import numpy as np
import pytest

from zoo.vq import leanvec


def _spectrum_data(seed, n=400, dim=12):
  """Database with a decaying spectrum, queries on its weak directions."""
  rng = np.random.default_rng(seed)
  basis = np.linalg.qr(rng.standard_normal((dim, dim)))[0]
  x_scale = np.exp(-np.arange(dim) / 3)
  q_scale = np.where(np.arange(dim) >= dim // 2, 1.0, 0.1)
  x = (rng.standard_normal((n, dim)) * x_scale) @ basis.T
  q = (rng.standard_normal((n, dim)) * q_scale) @ basis.T
  return x.astype(np.float32), q.astype(np.float32)


def test_full_dimension_is_exact():
  x, q = _spectrum_data(0)
  dim = x.shape[1]
  index = leanvec.build(x, dim, bits=None)
  np.testing.assert_allclose((q @ index.a.T) @ (x @ index.b.T).T, q @ x.T,
                             rtol=1e-4, atol=1e-4)
  found, scores = leanvec.search(index, q[:50], k=10, rerank=10)
  np.testing.assert_array_equal(found, leanvec.exact_top(x, q[:50], 10))
  np.testing.assert_allclose(scores, np.sort(q[:50] @ x.T, 1)[:, ::-1][:, :10],
                             rtol=1e-5, atol=1e-5)


def test_rerank_over_the_whole_database_is_exact():
  x, q = _spectrum_data(1)
  index = leanvec.build(x, 2, queries=q, bits=4, fw_steps=5)
  found, _ = leanvec.search(index, q[:40], k=10, rerank=len(x))
  np.testing.assert_array_equal(found, leanvec.exact_top(x, q[:40], 10))


def test_eigenvector_search_is_no_worse_than_its_ends():
  x, q = _spectrum_data(2)
  k_q, k_x = leanvec.second_moment(q), leanvec.second_moment(x)
  p, beta, losses = leanvec.eigenvector_search(k_q, k_x, 3)
  assert losses[beta] == min(losses.values())
  assert losses[beta] <= losses[0.0] and losses[beta] <= losses[1.0]
  assert leanvec.trace_loss(p, p, k_q, k_x) == pytest.approx(losses[beta])
  # Here the queries live where the database is weak: neither end is best.
  assert losses[beta] < min(losses[0.0], losses[1.0])


def test_trace_formula_equals_monte_carlo():
  """f(A, B) = E (q.x - q.A^T B x)^2 for independent q ~ N(0, K_Q) and
  x ~ N(0, K_X)."""
  rng = np.random.default_rng(3)
  dim, d, n = 6, 2, 400_000
  a, b = rng.standard_normal((d, dim)), rng.standard_normal((d, dim))
  lq, lx = rng.standard_normal((dim, dim)), rng.standard_normal((dim, dim))
  k_q, k_x = lq @ lq.T / dim, lx @ lx.T / dim
  q = rng.standard_normal((n, dim)) @ lq.T / np.sqrt(dim)
  x = rng.standard_normal((n, dim)) @ lx.T / np.sqrt(dim)
  err = np.sum(q * x, 1) - np.sum((q @ a.T) * (x @ b.T), 1)
  assert np.mean(err ** 2) == pytest.approx(
      leanvec.trace_loss(a, b, k_q, k_x), rel=0.03)


def test_frank_wolfe_never_raises_the_loss():
  x, q = _spectrum_data(4)
  k_q, k_x = leanvec.second_moment(q), leanvec.second_moment(x)
  p, _, _ = leanvec.eigenvector_search(k_q, k_x, 3)
  a, b, history = leanvec.frank_wolfe(p, p, k_q, k_x, steps=30)
  steps = np.diff(history)
  assert np.all(steps <= 1e-12 * history[0])
  assert history[-1] < history[0]
  assert history[-1] == pytest.approx(leanvec.trace_loss(a, b, k_q, k_x))
  for m in (a, b):  # the iterates stay in the spectral-norm ball
    assert np.linalg.norm(m, 2) <= 1 + 1e-9


@pytest.mark.parametrize("bits", [4, 8])
def test_lvq_error_is_within_half_a_step(bits):
  rng = np.random.default_rng(5)
  x = rng.standard_normal((300, 16)) * rng.uniform(0.01, 30, (300, 1)) + 3
  lvq = leanvec.lvq_encode(x, bits)
  assert lvq.codes.dtype == np.uint8 and lvq.codes.max() <= 2 ** bits - 1
  assert lvq.lower.dtype == lvq.step.dtype == np.float16
  err = np.abs(leanvec.lvq_decode(lvq) - x.astype(np.float32))
  step = lvq.step.astype(np.float32)[:, None]
  # float32 rounding of the decode adds a few ulps of |x|.
  assert np.all(err <= step / 2 + 1e-6 * (1 + np.abs(x)))


@pytest.mark.parametrize("call,message", [
    (lambda x, q: leanvec.build(x, 13), r"d must be an int in \[1, D=12\]"),
    (lambda x, q: leanvec.build(x, 0), r"d must be an int in \[1, D=12\]"),
    (lambda x, q: leanvec.build(x, 4, queries=q[:, :5]),
     r"queries must be \[n, 12\]"),
    (lambda x, q: leanvec.build(x, 4, bits=9), r"bits must be an int in"),
    (lambda x, q: leanvec.search(leanvec.build(x, 4), q, k=10, rerank=5),
     r"need 1 <= k <= rerank <= N=400, got k=10, rerank=5"),
    (lambda x, q: leanvec.search(leanvec.build(x, 4), q, k=1, rerank=401),
     r"rerank <= N=400"),
    (lambda x, q: leanvec.search(leanvec.build(x, 4), q[:, :3], k=1,
                                 rerank=5), r"queries must be \[Q, 12\]"),
])
def test_bad_input_is_a_clear_error(call, message):
  x, q = _spectrum_data(6)
  with pytest.raises(ValueError, match=message):
    call(x, q)
