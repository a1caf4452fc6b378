"""ops.hamming: packing round-trips, popcount top-k equals brute force, and
Hamming ranking equals vq_nearest's inner product on +-1 codes."""

import numpy as np
import pytest
from jax import numpy as jnp

import ops
from ops import hamming


def _bits(rng, n, b):
  return rng.integers(0, 2, size=(n, b)).astype(bool)


@pytest.mark.parametrize("b", [1, 31, 32, 33, 64, 100])
def test_pack_unpack_round_trip(b):
  bits = _bits(np.random.default_rng(b), 9, b)
  packed = hamming.pack_bits(bits)
  assert packed.dtype == jnp.uint32 and packed.shape == (9, -(-b // 32))
  np.testing.assert_array_equal(hamming.unpack_bits(packed, b), bits)


@pytest.mark.parametrize("b,n,k", [(32, 300, 10), (45, 50, 50), (7, 40, 5)])
def test_topk_equals_brute_force(b, n, k):
  rng = np.random.default_rng(n)
  q, x = _bits(rng, 23, b), _bits(rng, n, b)
  x[5] = x[3]  # an exact tie: the lower index comes first
  idx, dist = hamming.hamming_topk(hamming.pack_bits(q), hamming.pack_bits(x),
                                   k=k)
  brute = (q[:, None, :] != x[None, :, :]).sum(-1)
  order = np.argsort(brute, axis=1, kind="stable")[:, :k]
  np.testing.assert_array_equal(idx, order)
  np.testing.assert_array_equal(dist, np.take_along_axis(brute, order, 1))
  ref_idx, ref_dist = hamming.hamming_topk_reference(
      hamming.pack_bits(q), hamming.pack_bits(x), k=k)
  np.testing.assert_array_equal(idx, ref_idx)
  np.testing.assert_array_equal(dist, ref_dist)


def test_chunked_path_equals_one_chunk(monkeypatch):
  rng = np.random.default_rng(1)
  q, x = hamming.pack_bits(_bits(rng, 37, 64)), hamming.pack_bits(
      _bits(rng, 80, 64))
  want = hamming.hamming_topk(q, x, k=4)
  monkeypatch.setattr(hamming, "_CHUNK_ELEMENTS", 80 * 5)
  hamming._topk.clear_cache()
  got = hamming.hamming_topk(q, x, k=4)
  hamming._topk.clear_cache()
  for g, w in zip(got, want):
    np.testing.assert_array_equal(g, w)


def test_equals_vq_nearest_inner_product_on_signs():
  rng = np.random.default_rng(2)
  b = 40
  q, x = _bits(rng, 31, b), _bits(rng, 120, b)
  idx, dist = hamming.hamming_topk(hamming.pack_bits(q), hamming.pack_bits(x),
                                   k=12)
  sign = lambda a: jnp.asarray(np.where(a, 1.0, -1.0), jnp.float32)
  ip_idx, ip = ops.vq_nearest(sign(q), sign(x), k=12, metric="ip")
  np.testing.assert_array_equal(idx, ip_idx)
  np.testing.assert_array_equal(np.asarray(ip), b - 2 * np.asarray(dist))


@pytest.mark.parametrize("q,x,k,message", [
    (np.zeros((2, 1), np.int32), np.zeros((3, 1), np.uint32), 1,
     "queries must be"),
    (np.zeros((2, 1), np.uint32), np.zeros((3, 2), np.uint32), 1,
     "different word counts"),
    (np.zeros((2, 1), np.uint32), np.zeros((3, 1), np.uint32), 4,
     r"k must be an int in \[1, 3\]"),
    (np.zeros((2, 1), np.uint32), np.zeros((0, 1), np.uint32), 1,
     "database is empty"),
])
def test_bad_input_is_a_clear_error(q, x, k, message):
  with pytest.raises(ValueError, match=message):
    hamming.hamming_topk(q, x, k=k)
