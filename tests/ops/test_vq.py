"""ops.vq_nearest against a float64 brute force, on every CPU implementation."""

import jax
import numpy as np
import pytest
from jax import numpy as jnp

import ops

IMPLS = ["xla", "interpret"]


def brute_force(x, codebook, k, metric, code_mask=None):
  """float64 numpy top-k with lowest-index tie-breaking; x [N, G, d].

  Returns (indices [N, G, k], all scores sorted best first [N, G, K]).
  """
  if metric == "cos":  # normalised in f32, then rounded to the input dtype
    c32 = np.asarray(codebook, np.float32)
    c32 = c32 / np.maximum(np.linalg.norm(c32, axis=-1, keepdims=True), 1e-12)
    codebook = jnp.asarray(c32).astype(codebook.dtype)
  x = np.asarray(np.asarray(x, np.float32), np.float64)
  c = np.asarray(np.asarray(codebook, np.float32), np.float64)
  dots = np.einsum("ngd,gkd->ngk", x, c)
  if metric == "l2":
    key = -(np.sum(c * c, -1)[None] - 2 * dots)  # larger is better
  else:
    key = dots
  if code_mask is not None:
    key = np.where(code_mask[None], key, -np.inf)
  # Stable sort on -key keeps the lowest index first among ties.
  order = np.argsort(-key, axis=-1, kind="stable")
  ranked = np.take_along_axis(key, order, -1)
  order = np.where(np.isneginf(ranked), -1, order)[..., :k]
  return order, ranked


def _inputs(rng, n, g, k_codes, d, dtype, integer=False):
  if integer:
    x = rng.integers(-3, 4, size=(n, g, d)).astype(np.float32)
    cb = rng.integers(-3, 4, size=(g, k_codes, d)).astype(np.float32)
  else:
    x = rng.normal(size=(n, g, d)).astype(np.float32)
    cb = rng.normal(size=(g, k_codes, d)).astype(np.float32)
  x, cb = jnp.asarray(x, dtype), jnp.asarray(cb, dtype)
  return x, cb


def _check(idx, ref_idx, ranked, tol):
  """Indices equal, except between candidates whose scores nearly tie.

  `ranked` holds all reference scores sorted best first; a pick may differ
  at slot j only if the reference's score j is within tol of a neighbour.
  """
  idx = np.asarray(idx)
  k = idx.shape[-1]
  gap_prev = np.abs(np.diff(ranked[..., :k + 1], axis=-1, prepend=np.inf))
  gap_next = np.abs(np.diff(ranked[..., :k + 1], axis=-1))
  gap = np.minimum(gap_prev[..., :k], gap_next[..., :k])
  mismatch = idx != ref_idx
  assert np.all(gap[mismatch] <= tol), (idx[mismatch], ref_idx[mismatch])


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("metric", ["l2", "ip", "cos"])
@pytest.mark.parametrize("dtype", [jnp.float32, jnp.bfloat16])
def test_matches_brute_force(impl, metric, dtype):
  rng = np.random.default_rng(0)
  x, cb = _inputs(rng, 37, 1, 300, 24, dtype)
  idx, scores = ops.vq_nearest(x[:, 0], cb[0], k=3, metric=metric,
                               implementation=impl)
  ref_idx, ranked = brute_force(x, cb, 3, metric)
  _check(idx, ref_idx[:, 0], ranked[:, 0], tol=1e-3)
  assert idx.shape == (37, 3) and idx.dtype == jnp.int32
  assert scores.dtype == jnp.float32
  ref_i, ref_s = ops.vq_nearest_reference(x[:, 0], cb[0], k=3, metric=metric)
  np.testing.assert_allclose(scores, ref_s, rtol=1e-3, atol=1e-3)


@pytest.mark.parametrize("impl", IMPLS)
def test_integer_inputs_and_ties_are_exact(impl):
  rng = np.random.default_rng(1)
  x, cb = _inputs(rng, 50, 3, 40, 8, jnp.float32, integer=True)
  cb = cb.at[:, 20:].set(cb[:, :20])  # every code has an exact duplicate
  idx, _ = ops.vq_nearest(x, cb, k=4, implementation=impl)
  ref_idx, _ = brute_force(x, cb, 4, "l2")
  np.testing.assert_array_equal(idx, ref_idx)


@pytest.mark.parametrize("impl", IMPLS)
def test_code_mask_and_empty_slots(impl):
  rng = np.random.default_rng(2)
  x, cb = _inputs(rng, 9, 2, 16, 8, jnp.float32)
  mask = np.ones((2, 16), bool)
  mask[0, 3:] = False  # group 0 has 3 enabled codes
  mask[1, :] = False  # group 1 has none
  idx, scores = ops.vq_nearest(x, cb, k=5, code_mask=jnp.asarray(mask),
                               implementation=impl)
  ref_idx, _ = brute_force(x, cb, 5, "l2", mask)
  np.testing.assert_array_equal(idx, ref_idx)
  assert np.all(np.asarray(idx)[:, 0, 3:] == -1)
  assert np.all(np.asarray(idx)[:, 1] == -1)
  assert np.all(np.isposinf(np.asarray(scores)[:, 1]))


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("metric", ["l2", "ip", "cos"])
def test_gradients_match_reference(impl, metric):
  rng = np.random.default_rng(3)
  x, cb = _inputs(rng, 11, 2, 13, 16, jnp.float32)
  weights = jnp.asarray(rng.normal(size=(11, 2, 2)), jnp.float32)

  def loss(fn, x_, cb_):
    return jnp.sum(weights * fn(x_, cb_, k=2, metric=metric)[1])

  op = lambda *a, **kw: ops.vq_nearest(*a, implementation=impl, **kw)
  got = jax.grad(lambda a, b: loss(op, a, b), (0, 1))(x, cb)
  want = jax.grad(lambda a, b: loss(ops.vq_nearest_reference, a, b),
                  (0, 1))(x, cb)
  for g, w in zip(got, want):
    np.testing.assert_allclose(g, w, rtol=1e-4, atol=1e-4)


def test_batch_shapes_and_groups():
  x = jnp.ones((2, 3, 5, 4))
  idx, _ = ops.vq_nearest(x, jnp.ones((6, 4)), k=2)
  assert idx.shape == (2, 3, 5, 2)
  idx, _ = ops.vq_nearest(x, jnp.ones((5, 6, 4)), k=2)
  assert idx.shape == (2, 3, 5, 2)


@pytest.mark.parametrize("kwargs,message", [
    (dict(x=jnp.ones((3, 4)), codebook=jnp.ones((5, 3))), "x must be"),
    (dict(x=jnp.ones((3, 4)), codebook=jnp.ones((5,))), "codebook must be"),
    (dict(x=jnp.ones((3, 4), jnp.int32), codebook=jnp.ones((5, 4))),
     "float32 or bfloat16"),
    (dict(x=jnp.ones((3, 4)), codebook=jnp.ones((5, 4)), k=6), "k must be"),
    (dict(x=jnp.ones((3, 4)), codebook=jnp.ones((5, 4)), metric="dot"),
     "metric must be"),
    (dict(x=jnp.ones((3, 4)), codebook=jnp.ones((5, 4)),
          code_mask=jnp.ones((4,), bool)), "code_mask must be"),
    (dict(x=jnp.ones((3, 2, 4)), codebook=jnp.ones((3, 5, 4))), "x must be"),
])
def test_bad_input_is_a_clear_error(kwargs, message):
  with pytest.raises(ValueError, match=message):
    ops.vq_nearest(**kwargs)


def test_dispatch_override(monkeypatch):
  x, cb = jnp.ones((4, 8)), jnp.ones((16, 8))
  with pytest.raises(ValueError, match="unknown implementation"):
    ops.vq_nearest(x, cb, implementation="cuda")
  monkeypatch.setenv("ZOO_IMPL", "vq_nearest=bogus")
  with pytest.raises(ValueError, match="unknown implementation"):
    ops.vq_nearest(x, cb)
  monkeypatch.setenv("ZOO_IMPL", "maxsim=xla")  # other ops leave it alone
  assert ops.vq_nearest(x, cb)[0].shape == (4, 1)


def test_sharded_kernel_matches_unsharded(mesh8):
  rng = np.random.default_rng(4)
  x, cb = _inputs(rng, 30, 1, 50, 16, jnp.float32)
  want = ops.vq_nearest(x[:, 0], cb[0], k=2, implementation="xla")
  with jax.set_mesh(mesh8):
    got = jax.jit(lambda a, b: ops.vq_nearest(
        a, b, k=2, implementation="interpret"))(x[:, 0], cb[0])
  np.testing.assert_array_equal(got[0], want[0])
  np.testing.assert_allclose(got[1], want[1], rtol=1e-5, atol=1e-5)


def test_kmeans_recovers_separated_clusters():
  rng = np.random.default_rng(5)
  centers = rng.normal(size=(4, 3)) * 10
  labels = rng.integers(0, 4, size=400)
  x = jnp.asarray(centers[labels] + rng.normal(size=(400, 3)) * 0.1,
                  jnp.float32)
  centroids, assignment = ops.kmeans(x, 4, jax.random.key(0), iters=10)
  # Same partition as the true labels, up to renaming clusters.
  pairs = set(zip(labels.tolist(), np.asarray(assignment).tolist()))
  assert len(pairs) == 4
  np.testing.assert_allclose(np.sort(np.asarray(centroids), axis=0),
                             np.sort(centers, axis=0), atol=0.1)


def _op(impl):
  """vq_nearest with the given implementation, or its reference."""
  if impl == "reference":
    return ops.vq_nearest_reference
  return lambda *a, **kw: ops.vq_nearest(*a, implementation=impl, **kw)


def _grouped(x, cb, mask, grouped):
  """(x, codebook, code_mask) as G codebooks, or group 0's plain one."""
  if grouped:
    return x, cb, mask
  return x[:, 0], cb[0], None if mask is None else mask[0]


NAN_CODES = [0, 5, 17]


@pytest.mark.parametrize("impl", [*IMPLS, "reference"])
@pytest.mark.parametrize("metric", ["l2", "ip", "cos"])
@pytest.mark.parametrize("k,grouped", [(1, False), (3, True)])
def test_nan_codes_are_never_chosen_over_real_ones(impl, metric, k, grouped):
  """A code holding NaN acts as if it were absent (while k real codes are
  enabled): same indices and scores as with that code masked out."""
  rng = np.random.default_rng(6)
  x, cb = _inputs(rng, 23, 2, 40, 8, jnp.float32)
  mask = np.ones((2, 40), bool)
  mask[1, 30:] = False
  nan_cb = cb.at[:, NAN_CODES, 3].set(jnp.nan)
  op = _op(impl)
  for code_mask in (None, mask):
    a, c, m = _grouped(x, nan_cb, None if code_mask is None else
                       jnp.asarray(code_mask), grouped)
    idx, scores = op(a, c, k=k, metric=metric, code_mask=m)
    clean_mask = np.ones((2, 40), bool) if code_mask is None else mask.copy()
    clean_mask[:, NAN_CODES] = False
    a, c, m = _grouped(x, cb, jnp.asarray(clean_mask), grouped)
    want_idx, want_scores = op(a, c, k=k, metric=metric, code_mask=m)
    np.testing.assert_array_equal(idx, want_idx)
    np.testing.assert_allclose(scores, want_scores, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("impl", [*IMPLS, "reference"])
@pytest.mark.parametrize("metric,grouped", [("l2", False), ("ip", True),
                                            ("cos", True)])
def test_nan_scores_rank_between_real_and_disabled_codes(impl, metric,
                                                         grouped):
  """With too few real codes, NaN codes fill the next slots (lowest index
  first, NaN score), then -1; a disabled NaN code never appears."""
  rng = np.random.default_rng(7)
  x, cb = _inputs(rng, 6, 2, 12, 8, jnp.float32)
  cb = cb.at[:, [3, 8, 10]].set(jnp.nan)
  mask = np.zeros((2, 12), bool)
  mask[:, [2, 3, 8]] = True  # code 10 holds NaN but is disabled
  a, c, m = _grouped(x, cb, jnp.asarray(mask), grouped)
  idx, scores = _op(impl)(a, c, k=5, metric=metric, code_mask=m)
  idx, scores = np.asarray(idx), np.asarray(scores)
  np.testing.assert_array_equal(idx, np.broadcast_to([2, 3, 8, -1, -1],
                                                     idx.shape))
  assert np.all(np.isfinite(scores[..., 0]))
  assert np.all(np.isnan(scores[..., 1:3]))
  empty = np.inf if metric == "l2" else -np.inf
  np.testing.assert_array_equal(scores[..., 3:], empty)


@pytest.mark.parametrize("impl", [*IMPLS, "reference"])
@pytest.mark.parametrize("metric", ["l2", "ip", "cos"])
@pytest.mark.parametrize("k", [1, 3])
def test_nan_rows_get_the_lowest_enabled_codes(impl, metric, k):
  """Every score of a NaN row is NaN: its slots take the lowest-indexed
  enabled codes; the other rows are unaffected."""
  rng = np.random.default_rng(8)
  x, cb = _inputs(rng, 7, 2, 300, 8, jnp.float32)
  x = x.at[[1, 4], 0, 2].set(jnp.nan)
  mask = np.ones((2, 300), bool)
  mask[0, [0, 2, 3]] = False
  op = _op(impl)
  idx, scores = op(x, cb, k=k, metric=metric, code_mask=jnp.asarray(mask))
  idx, scores = np.asarray(idx), np.asarray(scores)
  np.testing.assert_array_equal(idx[[1, 4], 0], np.broadcast_to(
      [1, 4, 5][:k], (2, k)))
  assert np.all(np.isnan(scores[[1, 4], 0]))
  assert np.all((idx >= 0) & (idx < 300))
  rest = np.ones(idx.shape, bool)
  rest[[1, 4], 0] = False
  want_idx, _ = op(jnp.where(jnp.isnan(x), 0.0, x), cb, k=k, metric=metric,
                   code_mask=jnp.asarray(mask))
  np.testing.assert_array_equal(idx[rest], np.asarray(want_idx)[rest])
  assert np.all(np.isfinite(scores[rest]))


@pytest.mark.parametrize("impl", IMPLS)
def test_empty_and_zero_sized_shapes(impl):
  op = _op(impl)
  with pytest.raises(ValueError, match="codebook is empty"):
    op(jnp.ones((3, 4)), jnp.ones((0, 4)))
  with pytest.raises(ValueError, match="codebook is empty"):
    op(jnp.ones((3, 2, 4)), jnp.ones((2, 0, 4)))
  idx, scores = op(jnp.ones((0, 4)), jnp.ones((5, 4)), k=2)
  assert idx.shape == scores.shape == (0, 2)
  idx, _ = op(jnp.ones((3, 0, 4)), jnp.ones((0, 5, 4)), k=2)  # no groups
  assert idx.shape == (3, 0, 2)
  # d = 0: every code is at distance 0; ties go to the lowest index.
  idx, scores = op(jnp.ones((3, 0)), jnp.ones((5, 0)), k=2)
  np.testing.assert_array_equal(idx, [[0, 1]] * 3)
  np.testing.assert_array_equal(scores, 0.0)


@pytest.mark.parametrize("metric", ["l2", "cos"])
@pytest.mark.parametrize("k", [1, 3])
def test_kernel_gradients_under_x64(metric, k):
  rng = np.random.default_rng(9)
  x, cb = _inputs(rng, 11, 2, 70, 16, jnp.float32)
  weights = jnp.asarray(rng.normal(size=(11, 2, k)), jnp.float32)

  def grads(fn):
    return jax.grad(lambda a, b: jnp.sum(
        weights * fn(a, b, k=k, metric=metric)[1]), (0, 1))(x, cb)

  with jax.enable_x64(True):
    got = grads(_op("interpret"))
    want = grads(ops.vq_nearest_reference)
  for g, w in zip(got, want):
    assert g.dtype == jnp.float32
    np.testing.assert_allclose(g, w, rtol=1e-4, atol=1e-4)
