"""ops.prf: Vector PRF and pyserini-style interpolation against brute force."""

import numpy as np
import pytest
from jax import numpy as jnp

from ops import prf


def _case(seed, q=7, n=23, d=5):
  rng = np.random.default_rng(seed)
  queries = rng.standard_normal((q, d)).astype(np.float32)
  docs = rng.standard_normal((n, d)).astype(np.float32)
  return queries, docs, queries @ docs.T


def _order(scores):
  return np.argsort(-np.asarray(scores), axis=1, kind="stable")


@pytest.mark.parametrize("method,depth", [("average", 3), ("rocchio", 5),
                                          ("average", 23)])
def test_vector_prf_matches_pyserini_formula(method, depth):
  queries, docs, first = _case(0)
  ours = np.asarray(prf.vector_prf(queries, docs, first, depth=depth,
                                   method=method, alpha=0.4, beta=0.6))
  for i, row in enumerate(_order(first)[:, :depth]):
    if method == "average":  # pyserini: np.mean(np.vstack((q, docs)))
      want = np.mean(np.vstack([queries[i], docs[row]]), axis=0)
    else:
      want = 0.4 * queries[i] + 0.6 * np.mean(docs[row], axis=0)
    np.testing.assert_allclose(ours[i], want, rtol=1e-5, atol=1e-6)


def test_average_depth_zero_gives_the_first_run_bit_for_bit():
  queries, docs, first = _case(1)
  new = prf.vector_prf(queries, docs, first, depth=0, method="average")
  np.testing.assert_array_equal(np.asarray(new), queries)
  np.testing.assert_array_equal(np.asarray(new) @ docs.T, first)


def test_rocchio_beta_zero_gives_the_first_run():
  queries, docs, first = _case(2)
  new = np.asarray(prf.vector_prf(queries, docs, first, depth=5,
                                  method="rocchio", alpha=0.4, beta=0.0))
  np.testing.assert_array_equal(new, np.float32(0.4) * queries)
  np.testing.assert_array_equal(_order(new @ docs.T), _order(first))


def _pyserini_hybrid(sparse, dense, alpha, depth, normalize):
  """pyserini's HybridSearcher._hybrid_results, one query, dicts."""
  runs = []
  for scores in (sparse, dense):
    top = np.argsort(-scores, kind="stable")[:depth]
    runs.append({int(j): float(scores[j]) for j in top})
  (s_hits, d_hits) = runs
  s_min, s_max = min(s_hits.values()), max(s_hits.values())
  d_min, d_max = min(d_hits.values()), max(d_hits.values())
  fused = {}
  for doc in set(s_hits) | set(d_hits):
    s, d = s_hits.get(doc, s_min), d_hits.get(doc, d_min)
    if normalize:  # ours where pyserini divides by zero: 0
      s = (s - (s_min + s_max) / 2) / (s_max - s_min or np.inf)
      d = (d - (d_min + d_max) / 2) / (d_max - d_min or np.inf)
    fused[doc] = alpha * s + d
  return fused


@pytest.mark.parametrize("normalize", [True, False])
@pytest.mark.parametrize("depth", [1, 6, 23])
def test_interpolate_matches_pyserini_hybrid(normalize, depth):
  rng = np.random.default_rng(3)
  sparse = rng.gamma(2.0, 3.0, (6, 23)).astype(np.float32)
  dense = rng.uniform(-1, 1, (6, 23)).astype(np.float32)
  ours = np.asarray(prf.interpolate(sparse, dense, alpha=0.7, depth=depth,
                                    normalize=normalize))
  for i in range(len(sparse)):
    want = _pyserini_hybrid(sparse[i], dense[i], 0.7, depth, normalize)
    assert set(np.flatnonzero(np.isfinite(ours[i]))) == set(want)
    for doc, score in want.items():
      assert ours[i, doc] == pytest.approx(score, rel=1e-5, abs=1e-6)


def test_alpha_zero_gives_the_dense_order():
  rng = np.random.default_rng(4)
  sparse, dense = rng.random((5, 30)), rng.random((5, 30))
  fused = np.asarray(prf.interpolate(jnp.asarray(sparse, jnp.float32),
                                     jnp.asarray(dense, jnp.float32),
                                     alpha=0.0, depth=8))
  for i in range(5):
    dense_run = list(_order(dense[i:i + 1])[0, :8])
    fused_order = [j for j in _order(fused[i:i + 1])[0] if j in dense_run]
    assert fused_order == dense_run


def _imputed_union(sparse, dense, depth):
  """Per query, both runs over the union of their top `depth`, missing
  documents given that run's lowest kept score."""
  runs = ({}, {})
  for i in range(len(sparse)):
    tops = [np.argsort(-s[i], kind="stable")[:depth] for s in (sparse, dense)]
    union = set(tops[0]) | set(tops[1])
    for run, scores, top in zip(runs, (sparse, dense), tops):
      low = scores[i, top].min()
      run[f"q{i}"] = {f"d{j}": float(scores[i, j] if j in top else low)
                      for j in union}
  return runs


def _fusion_case(seed):
  rng = np.random.default_rng(seed)
  return (rng.gamma(2.0, 3.0, (8, 40)).astype(np.float32),
          rng.uniform(-1, 1, (8, 40)).astype(np.float32))


def test_normalised_fusion_is_min_max_weighted_sum():
  # (s - (min + max) / 2) / (max - min) = min-max(s) - 1/2: the same order
  # as ranx's wsum of min-max scores, weights (alpha, 1).
  sparse, dense = _fusion_case(5)
  fused = np.asarray(prf.interpolate(sparse, dense, alpha=0.3, depth=10))
  runs = _imputed_union(sparse, dense, 10)
  for i in range(len(sparse)):
    wsum = {}
    for run, weight in zip(runs, (0.3, 1.0)):
      scores = run[f"q{i}"]
      low, high = min(scores.values()), max(scores.values())
      for doc, s in scores.items():
        wsum[doc] = wsum.get(doc, 0.0) + weight * (s - low) / (high - low)
    for doc, value in wsum.items():
      assert fused[i, int(doc[1:])] + 0.5 * 1.3 == pytest.approx(
          value, abs=1e-5)


@pytest.mark.slow  # ranx compiles with numba for about a minute
def test_fused_order_equals_ranx_fuse():
  ranx = pytest.importorskip("ranx")
  sparse, dense = _fusion_case(6)
  fused = np.asarray(prf.interpolate(sparse, dense, alpha=0.3, depth=10))
  runs = [ranx.Run(r) for r in _imputed_union(sparse, dense, 10)]
  theirs = ranx.fuse(runs=runs, norm="min-max", method="wsum",
                     params={"weights": [0.3, 1.0]}).to_dict()
  for i in range(len(sparse)):
    ours = [f"d{j}" for j in _order(fused[i:i + 1])[0]
            if np.isfinite(fused[i, j])]
    scores = theirs[f"q{i}"]
    # The same order up to exact ties (a run's last kept document and the
    # documents missing from it share its lowest score).
    assert set(ours) == set(scores)
    along_ours = np.array([scores[d] for d in ours])
    assert np.all(np.diff(along_ours) <= 1e-6)
    assert ours[:5] == sorted(scores, key=lambda d: -scores[d])[:5]


def test_bad_input_is_named():
  queries, docs, first = _case(7)
  with pytest.raises(ValueError, match="depth"):
    prf.vector_prf(queries, docs, first, depth=24)
  with pytest.raises(ValueError, match="depth"):
    prf.vector_prf(queries, docs, first, depth=-1)
  with pytest.raises(ValueError, match="method"):
    prf.vector_prf(queries, docs, first, depth=3, method="median")
  with pytest.raises(ValueError, match="alpha"):
    prf.vector_prf(queries, docs, first, depth=3, method="rocchio",
                   alpha=float("nan"))
  with pytest.raises(ValueError, match="first_scores"):
    prf.vector_prf(queries, docs, first.T, depth=3)
  with pytest.raises(ValueError, match="alpha"):
    prf.interpolate(first, first, alpha=float("inf"), depth=3)
  with pytest.raises(ValueError, match="depth"):
    prf.interpolate(first, first, alpha=1.0, depth=0)
  with pytest.raises(ValueError, match="same"):
    prf.interpolate(first, first[:, :5], alpha=1.0, depth=3)
