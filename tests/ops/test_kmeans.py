"""ops.kmeans: input handling (numpy, validation) and x64 independence."""

import jax
import numpy as np
import pytest
from jax import numpy as jnp

import ops


def _points(seed=0, n=120):
  rng = np.random.default_rng(seed)
  centers = rng.normal(size=(3, 4)) * 5
  return (centers[rng.integers(0, 3, n)]
          + rng.normal(size=(n, 4)) * 0.1).astype(np.float32)


@pytest.mark.parametrize("impl", ["xla", "interpret"])
def test_numpy_inputs_give_the_jax_result(impl):
  x = _points()
  weights = np.random.default_rng(1).random(len(x))
  key = jax.random.key(0)
  got = ops.kmeans(x, 3, key, iters=3, weights=weights, implementation=impl)
  want = ops.kmeans(jnp.asarray(x), 3, key, iters=3,
                    weights=jnp.asarray(weights), implementation=impl)
  for g, w in zip(got, want):
    np.testing.assert_array_equal(g, w)
  # float64 numpy, as np.random gives it.
  centroids, _ = ops.kmeans(x.astype(np.float64), 3, key, iters=3)
  assert centroids.shape == (3, 4)


def test_results_do_not_depend_on_x64():
  x = jnp.asarray(_points(2))
  want = ops.kmeans(x, 5, jax.random.key(3), iters=4)
  with jax.enable_x64(True):
    got = ops.kmeans(x, 5, jax.random.key(3), iters=4)
  for g, w in zip(got, want):
    assert g.dtype == w.dtype
    np.testing.assert_array_equal(g, w)


@pytest.mark.parametrize("kwargs,message", [
    (dict(x=np.zeros((0, 3), np.float32)), "at least one vector"),
    (dict(x=np.zeros((4,), np.float32)), r"\[N, d\]"),
    (dict(num_clusters=0), "num_clusters must be an int >= 1"),
    (dict(num_clusters=2.0), "num_clusters must be an int >= 1"),
    (dict(weights=np.ones(3)), r"weights must have shape \(5,\)"),
])
def test_bad_input_is_a_clear_error(kwargs, message):
  args = dict(x=np.ones((5, 3), np.float32), num_clusters=2,
              key=jax.random.key(0))
  with pytest.raises(ValueError, match=message):
    ops.kmeans(**{**args, **kwargs})
