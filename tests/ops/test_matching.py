"""ops.matching.hungarian: the assignment's total cost equals the brute
force minimum (<= 6 rows or columns), one-to-one and sorted by row, under
jit and vmap; bad input is refused."""

import itertools

import jax
import numpy as np
import pytest

from ops.matching import hungarian


def _brute_force(cost: np.ndarray) -> float:
  """The least total cost over every one-to-one assignment."""
  n, m = cost.shape
  if n >= m:
    return min(cost[list(rows), range(m)].sum()
               for rows in itertools.permutations(range(n), m))
  return min(cost[range(n), list(cols)].sum()
             for cols in itertools.permutations(range(m), n))


@pytest.mark.parametrize("shape", [(1, 1), (3, 3), (6, 4), (4, 6), (5, 5),
                                   (6, 6), (2, 5)])
def test_hungarian_is_the_brute_force_minimum(shape):
  rng = np.random.default_rng(sum(shape))
  cost = rng.normal(size=(4, *shape)).astype(np.float32)
  cost[1] = np.round(cost[1])  # ties
  rows, cols = jax.jit(hungarian)(cost)
  k = min(shape)
  assert rows.shape == cols.shape == (4, k) and rows.dtype == np.int32
  for b in range(4):
    assert len(set(rows[b].tolist())) == len(set(cols[b].tolist())) == k
    assert np.all(np.diff(rows[b]) > 0)  # sorted by row
    np.testing.assert_allclose(cost[b][rows[b], cols[b]].sum(),
                               _brute_force(cost[b]), rtol=1e-5, atol=1e-5)


def test_hungarian_under_vmap_and_nested_batches():
  rng = np.random.default_rng(7)
  cost = rng.normal(size=(2, 3, 5, 4)).astype(np.float32)
  rows, cols = hungarian(cost)
  vrows, vcols = jax.jit(jax.vmap(hungarian))(cost)
  np.testing.assert_array_equal(vrows, rows)
  np.testing.assert_array_equal(vcols, cols)
  for i, j in itertools.product(range(2), range(3)):
    np.testing.assert_allclose(cost[i, j][rows[i, j], cols[i, j]].sum(),
                               _brute_force(cost[i, j]), rtol=1e-5)
  # The cost takes no gradient through the matching.
  grad = jax.grad(lambda c: c[hungarian(c)].sum())(cost[0, 0])
  assert np.count_nonzero(grad) == 4


@pytest.mark.parametrize("cost,message", [
    (np.zeros(3, np.float32), r"must be \[..., N, M\]"),
    (np.zeros((2, 0), np.float32), "needs N, M >= 1"),
    (np.zeros((2, 2), np.int32), "must be floating point"),
    (np.array([[0.0, np.nan], [1.0, 2.0]], np.float32), "NaN or infinite"),
])
def test_hungarian_refuses_bad_input(cost, message):
  with pytest.raises(ValueError, match=message):
    hungarian(cost)
