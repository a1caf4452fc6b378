"""Sparse codes: masks against brute force, JumpReLU's pseudo-gradients,
and the gather-sum decode against the dense matmul."""

import jax
import numpy as np
import pytest
from jax import numpy as jnp

from ops import sparse_codes


def _codes(b=6, w=20, seed=0):
  return jax.nn.relu(jax.random.normal(jax.random.key(seed), (b, w)))


def test_batch_topk_keeps_the_kb_largest_of_the_batch():
  x = jax.random.normal(jax.random.key(1), (5, 12))
  mask = np.asarray(sparse_codes.batch_topk_mask(x, 3))
  assert mask.sum() == 15
  flat = np.asarray(x).ravel()
  assert set(np.flatnonzero(mask.ravel())) == set(np.argsort(-flat)[:15])
  assert mask.sum(1).std() > 0  # rows are not forced to k each


def test_batch_topk_breaks_ties_to_the_lower_index():
  mask = sparse_codes.batch_topk_mask(jnp.ones((2, 4)), 1)
  np.testing.assert_array_equal(mask, [[1, 1, 0, 0], [0, 0, 0, 0]])


def _afa_brute_force(a, norms, target):
  a, norms, target = map(np.asarray, (a, norms, target))
  masks, ks = [], []
  for row, r in zip(a, target):
    scores = (row * norms) ** 2
    order = np.argsort(-scores, kind="stable")
    gaps = [abs(np.sqrt(scores[order[:k]].sum()) - r)
            for k in range(1, len(row))]  # k = W is never chosen
    k = int(np.argmin(gaps)) + 1
    mask = np.zeros(len(row), bool)
    mask[order[:k]] = True
    masks.append(mask)
    ks.append(k)
  return np.array(masks), np.array(ks)


def test_top_afa_mask_equals_brute_force_on_random_rows():
  a = _codes(8, 16, seed=2)
  norms = jax.random.uniform(jax.random.key(3), (16,), minval=0.5,
                             maxval=1.5)
  target = jax.random.uniform(jax.random.key(4), (8,), maxval=3.0)
  mask, k = sparse_codes.top_afa_mask(a, norms, target)
  want_mask, want_k = _afa_brute_force(a, norms, target)
  np.testing.assert_array_equal(k, want_k)
  np.testing.assert_array_equal(mask, want_mask)


def test_top_afa_picks_the_best_count_for_bfloat16_codes():
  a = _codes(256, 64, seed=8).astype(jnp.bfloat16)
  norms = jax.random.uniform(jax.random.key(9), (64,), minval=0.5,
                             maxval=1.5).astype(jnp.bfloat16)
  target = jax.random.uniform(jax.random.key(10), (256,),
                              maxval=5.0).astype(jnp.bfloat16)
  _, k = sparse_codes.top_afa_mask(a, norms, target)
  # |sqrt(energy of the top k) - r| of every count, in f64.
  a, norms, target = (np.asarray(x, np.float64) for x in (a, norms, target))
  energy = np.cumsum(-np.sort(-(a * norms) ** 2, axis=1), axis=1)
  gaps = np.abs(np.sqrt(energy[:, :-1]) - target[:, None])
  chosen = gaps[np.arange(len(gaps)), np.asarray(k) - 1]
  # Optimal up to f32 rounding; a bf16 running sum is off by ~0.03.
  assert np.max(chosen - gaps.min(1)) < 1e-6


def test_top_afa_keeps_all_but_one_when_the_code_falls_short():
  a = jnp.full((1, 5), 0.1)
  mask, k = sparse_codes.top_afa_mask(a, jnp.ones(5), jnp.array([100.0]))
  assert int(k[0]) == 4 and int(mask.sum()) == 4


def test_jumprelu_forward_and_pseudo_gradients():
  z = jnp.array([[0.2, 0.5, 1.0, 1.004]])
  theta = jnp.array([0.3, 0.5, 1.002, 1.002])
  eps = 0.01
  np.testing.assert_array_equal(sparse_codes.jumprelu(z, theta, eps),
                                jnp.where(z > theta, z, 0.0))
  np.testing.assert_array_equal(sparse_codes.jumprelu(z, theta, eps) > 0,
                                [[0, 0, 0, 1]])
  dz, dtheta = jax.grad(lambda z, t: sparse_codes.jumprelu(z, t, eps).sum(),
                        argnums=(0, 1))(z, theta)
  np.testing.assert_array_equal(dz, [[0, 0, 0, 1]])
  # Only entries within eps/2 of their threshold move it: -theta/eps there.
  np.testing.assert_allclose(dtheta, [0, -50.0, -100.2, -100.2], rtol=1e-5)
  dtheta_l0 = jax.grad(lambda t: sparse_codes.heaviside(z, t, eps).sum())(
      theta)
  np.testing.assert_allclose(dtheta_l0, [0, -100, -100, -100], rtol=1e-5)


def test_sparse_decode_equals_the_dense_code_times_the_dictionary():
  key = jax.random.key(5)
  ids = jax.random.randint(key, (7, 4), 0, 30)
  values = jax.random.normal(jax.random.key(6), (7, 4))
  dictionary = jax.random.normal(jax.random.key(7), (30, 9))
  dense = np.zeros((7, 30))
  np.add.at(dense, (np.arange(7)[:, None], np.asarray(ids)),
            np.asarray(values))
  np.testing.assert_allclose(
      sparse_codes.sparse_decode(ids, values, dictionary),
      dense @ np.asarray(dictionary, np.float64), atol=1e-5)


@pytest.mark.parametrize("call, message", [
    (lambda: sparse_codes.batch_topk_mask(jnp.ones((2, 4)), 5),
     r"k must be an int in \[1, 4\]"),
    (lambda: sparse_codes.batch_topk_mask(jnp.ones(4), 1), "2-d float"),
    (lambda: sparse_codes.top_afa_mask(jnp.ones((2, 4)), jnp.ones(3),
                                       jnp.ones(2)), "row_norms"),
    (lambda: sparse_codes.sparse_decode(jnp.array([[0, 30]]),
                                        jnp.ones((1, 2)), jnp.ones((30, 3))),
     r"latent ids must be in \[0, 30\)"),
    (lambda: sparse_codes.sparse_decode(jnp.array([[0, 1]]),
                                        jnp.ones((1, 3)), jnp.ones((30, 3))),
     "must match ids"),
])
def test_bad_input_is_refused_by_name(call, message):
  with pytest.raises(ValueError, match=message):
    call()
