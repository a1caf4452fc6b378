"""vq_nearest with k above the kernels' one-pass list (MAX_K = 16).

LeanVec's re-rank shortlist takes the top 100 inner products over a
database used as the codebook; every implementation must return it exactly
as a float64 brute force ranks it.
"""

import numpy as np
import pytest
from jax import numpy as jnp

import ops
from tests.ops.test_vq import _check, _inputs, brute_force
from tests.pallas_kernels import test_vq_kernel as kernel_tests
from tests.pallas_kernels.test_vq_kernel import SMALL
from tests.pallas_kernels.test_vq_kernel import _check as check_kernel
from tests.pallas_kernels.test_vq_kernel import _inputs as kernel_inputs

IMPLS = ["xla", "interpret"]


@pytest.mark.parametrize("impl,metric", [
    ("xla", "ip"), ("xla", "l2"), ("xla", "cos"), ("interpret", "ip")])
def test_k100_matches_brute_force(impl, metric):
  rng = np.random.default_rng(0)
  x, cb = _inputs(rng, 9, 1, 300, 16, jnp.float32)
  idx, scores = ops.vq_nearest(x[:, 0], cb[0], k=100, metric=metric,
                               implementation=impl)
  ref_idx, ranked = brute_force(x, cb, 100, metric)
  assert idx.shape == scores.shape == (9, 100)
  _check(idx, ref_idx[:, 0], ranked[:, 0], tol=1e-4)
  _, ref_scores = ops.vq_nearest_reference(x[:, 0], cb[0], k=100,
                                           metric=metric)
  np.testing.assert_allclose(scores, ref_scores, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("impl", IMPLS)
def test_k100_ties_masks_and_empty_slots(impl):
  """Integer inputs tie often: ties must resolve to the lowest index across
  pass boundaries too. Only 90 codes are enabled in group 1, so its last
  10 slots are empty (index -1)."""
  rng = np.random.default_rng(1)
  x, cb = _inputs(rng, 6, 2, 200, 4, jnp.float32, integer=True)
  mask = np.ones((2, 200), bool)
  mask[1, rng.choice(200, 110, replace=False)] = False
  idx, _ = ops.vq_nearest(x, cb, k=100, metric="ip",
                          code_mask=jnp.asarray(mask), implementation=impl)
  ref_idx, _ = brute_force(x, cb, 100, "ip", code_mask=mask)
  np.testing.assert_array_equal(idx, ref_idx)
  assert np.all(np.asarray(idx)[:, 1, 90:] == -1)


@pytest.mark.parametrize("backend", ["gpu", "tpu"])
@pytest.mark.parametrize("k,integer", [(100, False), (33, True)])
def test_both_kernel_bodies_in_passes(backend, k, integer):
  """The GPU loop and TPU grid bodies (interpret mode), several tiles,
  splits and row blocks; k = 33 ends with a pass of one code."""
  x, codebook, bias = kernel_inputs(2, 20, 2, 150, 8, jnp.float32,
                                    integer=integer)
  check_kernel(x, codebook, bias, k, exact=integer, backend=backend,
               block_sizes=SMALL[backend])



@pytest.mark.parametrize("platform", ["cuda", "tpu"])
def test_passes_lower_for_accelerators(platform):
  """LeanVec's shape: 1,000 queries, top-100 of 20,000 codes of 16 dims."""
  kernel_tests.test_lowers_for_accelerators(platform, 1000, 1, 20000, 16,
                                            100, jnp.bfloat16)


@pytest.mark.parametrize("metric", ["ip", "l2"])
def test_nan_ranks_the_same_in_passes(metric):
  """NaN codes rank below every real code (the last 3 of all 60 slots) and
  a NaN row gets the lowest indices, in the kernel's passes exactly as in
  the XLA reference."""
  rng = np.random.default_rng(3)
  x, cb = _inputs(rng, 5, 1, 60, 8, jnp.float32)
  x, cb = x[:, 0].at[0].set(jnp.nan), cb[0].at[jnp.array([3, 17, 40])].set(
      jnp.nan)
  got = ops.vq_nearest(x, cb, k=60, metric=metric, implementation="interpret")
  want = ops.vq_nearest(x, cb, k=60, metric=metric, implementation="xla")
  np.testing.assert_array_equal(got[0], want[0])
  np.testing.assert_allclose(got[1], want[1], rtol=1e-5, atol=1e-5)
  np.testing.assert_array_equal(got[0][0], np.arange(60))
  assert set(np.asarray(got[0])[1:, -3:].ravel()) == {3, 17, 40}
