"""LIMIT's free-embedding experiment: metric, loss, optimiser and search."""

import itertools
import types

import numpy as np
import pytest
from jax import numpy as jnp

from zoo.retrieval import limit


def _exact_queries(result, n):
  """Queries whose top 2 are exactly their 2 relevant docs (numpy)."""
  scores = result.queries @ result.docs.T
  top = np.argsort(-scores, axis=-1, kind="stable")[:, :2]
  return sum(set(t) == set(pair) for t, pair in
             zip(top.tolist(), itertools.combinations(range(n), 2)))


def test_all_k_subsets():
  np.testing.assert_array_equal(limit.all_k_subsets(4, 2), [
      [0, 1], [0, 2], [0, 3], [1, 2], [1, 3], [2, 3]])
  assert limit.all_k_subsets(7, 3).shape == (35, 3)
  with pytest.raises(ValueError, match="k <= n"):
    limit.all_k_subsets(2, 3)


def test_topk_accuracy_hand_made():
  # Docs at 0, 90, 180 and 270 degrees; each query sits between two of them
  # and a little closer to the first, so its top 2 are known by hand.
  docs = jnp.array([[1., 0.], [0., 1.], [-1., 0.], [0., -1.]])
  angles = np.deg2rad([40., 130., 220.])
  queries = jnp.array(np.stack([np.cos(angles), np.sin(angles)], -1))
  # top 2: {0, 1}, {1, 2}, {2, 3}
  relevant = jnp.array([[0, 1], [2, 0], [3, 1]])
  np.testing.assert_array_equal(
      limit.topk_hits(queries @ docs.T, relevant), [2, 1, 1])
  assert float(limit.topk_accuracy(queries, docs, relevant)) == (
      pytest.approx(4 / 6))


@pytest.mark.parametrize("k", [1, 2, 3])
def test_topk_hits_matches_brute_force(k):
  rng = np.random.default_rng(k)
  scores = rng.standard_normal((40, 9)).astype(np.float32)
  relevant = np.stack([rng.choice(9, k, replace=False) for _ in range(40)])
  expected = [len(set(np.argsort(-s)[:k]) & set(r))
              for s, r in zip(scores, relevant)]
  np.testing.assert_array_equal(
      limit.topk_hits(jnp.asarray(scores), jnp.asarray(relevant)), expected)


def test_info_nce_loss_scores_each_positive_on_its_own():
  rng = np.random.default_rng(0)
  queries = rng.standard_normal((6, 3)).astype(np.float32)
  docs = rng.standard_normal((4, 3)).astype(np.float32)
  relevant = limit.all_k_subsets(4, 2)
  loss, hits = limit.info_nce_loss(queries, docs, relevant, temperature=0.5)
  expected = []
  for i, pair in enumerate(relevant):
    logits = queries[i] @ docs.T / 0.5
    log_z = np.log(np.sum(np.exp(logits)))
    expected += [logits[j] - log_z for j in pair]
  np.testing.assert_allclose(float(loss), -np.mean(expected), rtol=1e-5)
  np.testing.assert_array_equal(hits, limit.topk_hits(queries @ docs.T,
                                                      relevant))


@pytest.fixture(scope="module")
def runs_d2():
  return [limit.solve(6, 2, seed=seed) for seed in range(3)]


def test_two_dims_solve_at_most_n_pair_queries(runs_d2):
  # In 2-D the top 2 of any query among unit docs are angular neighbours, and
  # 6 docs have 6 neighbouring pairs: at most 6 of the 15 queries are exact.
  # This fails if the tables were not normalised or the ranking were wrong.
  for r in runs_d2:
    np.testing.assert_allclose(np.linalg.norm(r.docs, axis=-1), 1, atol=1e-5)
    exact = _exact_queries(r, 6)
    assert 3 <= exact <= 6
    assert not r.solved and r.accuracy < 1
    hits = limit.topk_hits(r.queries @ r.docs.T, limit.all_k_subsets(6, 2))
    assert np.sum(np.asarray(hits) == 2) == exact


def test_early_stop_and_step_budget(runs_d2):
  for r in runs_d2:  # unsolvable: ended by the plateau, not the budget
    assert limit.PATIENCE < r.steps < limit.DEFAULT_MAX_STEPS
  assert limit.solve(6, 2, seed=0, max_steps=100).steps == 100
  short = limit.solve(6, 2, seed=0, patience=20)
  assert 20 <= short.steps < runs_d2[0].steps


def test_six_dims_solve_six_docs():
  for seed in range(2):
    r = limit.solve(6, 6, seed=seed)
    assert r.solved and r.accuracy == 1.0 and r.steps > 0
    assert _exact_queries(r, 6) == 15
    np.testing.assert_allclose(np.linalg.norm(r.queries, axis=-1), 1,
                               atol=1e-5)


def test_solve_is_deterministic_per_seed():
  a, b, c = (limit.solve(7, 3, seed=s, max_steps=300) for s in (5, 5, 6))
  assert a.steps == b.steps == 300 and a.loss == b.loss
  np.testing.assert_array_equal(a.docs, b.docs)
  assert not np.array_equal(a.docs, c.docs)


def test_critical_n_small_dims():
  two = limit.critical_n_search(2)
  # n = 4 would need 6 exact pair queries from 4 angular neighbours.
  assert two.critical_n == 3 and two.outcomes[3] and not two.outcomes[4]
  three = limit.critical_n_search(3)
  assert three.critical_n >= two.critical_n
  assert not three.outcomes[three.critical_n + 1]
  assert limit.critical_n(2, seeds=(1,)) == 3


def test_paper_fit():
  np.testing.assert_allclose(limit.paper_fit(np.array([4, 6, 8])),
                             [6.7, 16.3, 26.9], atol=0.05)


def test_success_tested_every_50_steps_as_the_reference():
  every = limit.solve(6, 6, seed=0)
  sparse = limit.solve(6, 6, seed=0, test_every=50)
  # The reference tests after updates 1, 51, 101, ...: a success stops the
  # run only there, never earlier than the first success of every-step tests.
  assert sparse.solved and sparse.steps % 50 == 1
  assert sparse.steps >= every.steps
  with pytest.raises(ValueError, match="test_every"):
    limit.solve(6, 6, test_every=0)


def test_critical_n_per_seed_is_each_seeds_own_search(monkeypatch):
  # Seed 1 solves n <= 6 and, by a fluke, 9; seeds 0 and 2 solve up to 7
  # and 9. The reference searches with one seed and reports its gallop and
  # binary search's result: 7, 6 and 9. "Solved by any seed" would give 9.
  solvable = {0: lambda n: n <= 7, 1: lambda n: n <= 6 or n == 9,
              2: lambda n: n <= 9}
  calls = []

  def fake_solve(n, d, *, seed, **kwargs):
    calls.append((seed, kwargs["test_every"], kwargs["max_steps"]))
    return types.SimpleNamespace(solved=solvable[seed](n))

  monkeypatch.setattr(limit, "solve", fake_solve)
  assert limit.critical_n_per_seed(4, seeds=(0, 1, 2)) == (7, 6, 9)
  assert {c[1:] for c in calls} == {(50, 100_000)}
  assert limit.critical_n(4) == 9
