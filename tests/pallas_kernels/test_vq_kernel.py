"""Tests for the nearest-codeword Pallas kernels (interpret mode + export).

Both kernel bodies (the GPU loop kernel and the TPU grid kernel) run in
interpret mode against a float64 brute-force reference computed from the
same (bf16-rounded) inputs. Exporting for "cuda" and "tpu" runs the Triton
and Mosaic lowerings on CPU, which proves that the kernels lower at the
benchmark shapes (Triton's power-of-two rule, for one, is only checked
there).
"""

import functools

import jax
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jax import numpy as jnp

from pallas_kernels import vq
from pallas_kernels.vq import BlockSizes

# Small tiles so that K spans several tiles and N several row blocks.
SMALL = {
    "gpu": BlockSizes(block_rows=16, block_codes=32, num_splits=2),
    "tpu": BlockSizes(block_rows=128, block_codes=64, num_splits=2),
}
_EXPORT_CALL = {"cuda": "__gpu$xla.gpu.triton", "tpu": "tpu_custom_call"}


def _inputs(seed, n, g, num_codes, d, dtype, integer=False):
  rng = np.random.default_rng(seed)
  if integer:
    x = rng.integers(-3, 4, (n, g, d))
    codebook = rng.integers(-3, 4, (g, num_codes, d))
    bias = rng.integers(-4, 5, (g, num_codes)).astype(np.float32)
  else:
    x = rng.standard_normal((n, g, d))
    codebook = rng.standard_normal((g, num_codes, d))
    bias = rng.standard_normal((g, num_codes)).astype(np.float32)
  return (jnp.asarray(x, dtype), jnp.asarray(codebook, dtype),
          jnp.asarray(bias))


def _check(x, codebook, bias, k, *, exact=False, **kwargs):
  """Runs the kernel in interpret mode and compares with float64."""
  values, indices = vq.nearest_codes(x, codebook, bias, k=k, interpret=True,
                                     **kwargs)
  assert values.shape == indices.shape == x.shape[:2] + (k,)
  assert values.dtype == jnp.float32 and indices.dtype == jnp.int32
  values, indices = np.asarray(values), np.asarray(indices)

  x64 = np.asarray(x.astype(jnp.float32), np.float64)
  c64 = np.asarray(codebook.astype(jnp.float32), np.float64)
  scores = np.einsum("ngd,gkd->ngk", x64, c64) + np.asarray(bias)[None]
  order = np.argsort(-scores, axis=-1, kind="stable")
  ranked = np.take_along_axis(scores, order, axis=-1)
  ranked = np.concatenate([ranked, np.full_like(ranked[..., :1], -np.inf)],
                          axis=-1)
  ref_values, following = ranked[..., :k], ranked[..., 1:k + 1]

  empty = np.isneginf(ref_values)
  np.testing.assert_array_equal(np.isneginf(values), empty)
  np.testing.assert_allclose(np.where(empty, 0, values),
                             np.where(empty, 0, ref_values),
                             rtol=1e-5, atol=1e-5)
  sure = ~empty
  if not exact:
    # Near-ties may flip with the accumulation order: demand the reference's
    # index only where its margin over the next candidate is clear.
    with np.errstate(invalid="ignore"):
      sure &= ref_values - following > 1e-4 * (1 + np.abs(ref_values))
  np.testing.assert_array_equal(np.where(sure, indices, -1),
                                np.where(sure, order[..., :k], -1))


@pytest.mark.parametrize("backend", ["gpu", "tpu"])
@pytest.mark.parametrize("dtype", [jnp.float32, jnp.bfloat16])
@pytest.mark.parametrize("k", [1, 3, 8])
def test_matches_reference(backend, dtype, k):
  x, codebook, bias = _inputs(0, 37, 2, 300, 24, dtype)
  _check(x, codebook, bias, k, backend=backend, block_sizes=SMALL[backend])


@pytest.mark.parametrize("backend", ["gpu", "tpu"])
@pytest.mark.parametrize("k", [1, 4])
def test_exact_ties_go_to_lowest_index(backend, k):
  x, codebook, bias = _inputs(1, 37, 2, 300, 24, jnp.bfloat16, integer=True)
  # Codes 0..63 win (bias +30) and reappear at 64.. (same tile column, next
  # tile) and at 192.. (next split): equal scores, distinct indices.
  bias = bias.at[:, :64].add(30.0)
  for start in (64, 192):
    codebook = codebook.at[:, start:start + 64].set(codebook[:, :64])
    bias = bias.at[:, start:start + 64].set(bias[:, :64])
  _check(x, codebook, bias, k, exact=True, backend=backend,
         block_sizes=SMALL[backend])


@pytest.mark.parametrize("backend", ["gpu", "tpu"])
def test_disabled_codes(backend):
  x, codebook, bias = _inputs(2, 37, 3, 300, 24, jnp.float32, integer=True)
  bias = bias.at[:, ::3].set(-jnp.inf)
  bias = bias.at[1].set(-jnp.inf)  # a whole group disabled
  bias = bias.at[2, 2:].set(-jnp.inf)  # fewer enabled codes than k
  _check(x, codebook, bias, 3, exact=True, backend=backend,
         block_sizes=SMALL[backend])


@pytest.mark.parametrize("k", [1, 3])
def test_default_tiles(k):
  x, codebook, bias = _inputs(3, 300, 1, 700, 40, jnp.bfloat16)
  _check(x, codebook, bias, k)


@settings(max_examples=6, deadline=None, derandomize=True)
@given(n=st.integers(1, 40), g=st.integers(1, 3), num_codes=st.integers(1, 90),
       d=st.integers(1, 40), k=st.sampled_from([1, 2, 5]),
       backend=st.sampled_from(["gpu", "tpu"]),
       dtype=st.sampled_from([jnp.float32, jnp.bfloat16]))
def test_random_shapes(n, g, num_codes, d, k, backend, dtype):
  k = min(k, num_codes)
  x, codebook, bias = _inputs(n * d + num_codes, n, g, num_codes, d, dtype)
  tiles = BlockSizes(16, 16, 2) if backend == "gpu" else BlockSizes(128, 16)
  _check(x, codebook, bias, k, backend=backend, block_sizes=tiles)


def test_empty_rows():
  x, codebook, bias = _inputs(4, 0, 2, 10, 8, jnp.float32)
  values, indices = vq.nearest_codes(x, codebook, bias, k=2, interpret=True)
  assert values.shape == indices.shape == (0, 2, 2)


@pytest.mark.parametrize("x_shape, c_shape, b_shape, dtypes, k, match", [
    ((4, 8), (1, 5, 8), (1, 5), ("float32",) * 2, 1, "expected x"),
    ((4, 2, 8), (1, 5, 8), (1, 5), ("float32",) * 2, 1, "codebook must be"),
    ((4, 1, 8), (1, 5, 8), (1, 4), ("float32",) * 2, 1, "bias must be"),
    ((4, 1, 8), (1, 5, 8), (1, 5), ("float32", "bfloat16"), 1, "both"),
    ((4, 1, 8), (1, 5, 8), (1, 5), ("int32",) * 2, 1, "both"),
    ((4, 1, 8), (1, 5, 8), (1, 5), ("float32",) * 2, 6, "k must be"),
    ((4, 1, 8), (1, 5, 8), (1, 5), ("float32",) * 2, 0, "k must be"),
])
def test_invalid_input_raises(x_shape, c_shape, b_shape, dtypes, k, match):
  x = jnp.zeros(x_shape, dtypes[0])
  codebook = jnp.zeros(c_shape, dtypes[1])
  with pytest.raises(ValueError, match=match):
    vq.nearest_codes(x, codebook, jnp.zeros(b_shape), k=k, interpret=True)


def test_bad_bias_dtype_and_tiles_raise():
  x, codebook, bias = _inputs(5, 4, 1, 5, 8, jnp.float32)
  with pytest.raises(ValueError, match="bias must be float32"):
    vq.nearest_codes(x, codebook, bias.astype(jnp.bfloat16), k=1)
  with pytest.raises(ValueError, match="power of two"):
    vq.nearest_codes(x, codebook, bias, k=1, interpret=True,
                     backend="gpu", block_sizes=BlockSizes(24, 32))
  with pytest.raises(ValueError, match="multiple of 128"):
    vq.nearest_codes(x, codebook, bias, k=1, interpret=True,
                     backend="tpu", block_sizes=BlockSizes(64, 32))
  with pytest.raises(ValueError, match="backend"):
    vq.nearest_codes(x, codebook, bias, k=1, backend="metal")


def test_unsupported_input_raises_not_implemented():
  x, codebook, bias = _inputs(6, 4, 1, 40, 8, jnp.float32)
  with pytest.raises(NotImplementedError, match="no compiled Pallas kernel"):
    vq.nearest_codes(x, codebook, bias, k=1, backend="cpu")
  with pytest.raises(NotImplementedError, match="float32"):
    vq.nearest_codes(x, codebook, bias, k=1, backend="gpu")
  wide = jnp.zeros((4, 1, 1 << 15), jnp.bfloat16)
  with pytest.raises(NotImplementedError, match="do not fit"):
    vq.nearest_codes(wide, jnp.zeros((1, 40, 1 << 15), jnp.bfloat16), bias,
                     k=1, backend="gpu")


@pytest.mark.parametrize("backend", ["gpu", "tpu"])
@pytest.mark.parametrize("shape", [
    (1000, 1, 16384, 256, 1),
    (300, 64, 256, 32, 3),
    (16384, 1, 262144, 256, 1),
    (37, 3, 300, 24, 16),
])
def test_default_block_sizes_are_valid(backend, shape):
  n, g, num_codes, d, k = shape
  for dtype in (jnp.float32, jnp.bfloat16):
    tiles = BlockSizes.default_for(num_rows=n, num_groups=g,
                                   num_codes=num_codes, dim=d, dtype=dtype,
                                   k=k, backend=backend)
    tiles.validate(backend)


_EXPORT_SHAPES = [
    (1 << 20, 1, 16384, 256, 1, jnp.bfloat16),  # the benchmark shape
    (65536, 64, 256, 32, 1, jnp.bfloat16),  # many small codebooks
    (4096, 1, 262144, 256, 1, jnp.bfloat16),  # a large codebook
    (65536, 1, 16384, 256, 8, jnp.bfloat16),  # top-8
    (37, 3, 300, 24, 3, jnp.bfloat16),  # odd sizes
    (100, 2, 1000, 100, 16, jnp.bfloat16),  # k = MAX_K
]


# The GPU kernel declines float32 (XLA serves it), so f32 lowers for TPU only.
@pytest.mark.parametrize("platform, n, g, num_codes, d, k, dtype", [
    *[("cuda", *shape) for shape in _EXPORT_SHAPES],
    *[("tpu", *shape) for shape in _EXPORT_SHAPES],
    ("tpu", 37, 3, 300, 24, 3, jnp.float32),
])
def test_lowers_for_accelerators(platform, n, g, num_codes, d, k, dtype):
  backend = "gpu" if platform == "cuda" else "tpu"
  fn = functools.partial(vq.nearest_codes, k=k, backend=backend)
  args = (jax.ShapeDtypeStruct((n, g, d), dtype),
          jax.ShapeDtypeStruct((g, num_codes, d), dtype),
          jax.ShapeDtypeStruct((g, num_codes), jnp.float32))
  exported = jax.export.export(
      jax.jit(fn), platforms=[platform],
      disabled_checks=[jax.export.DisabledSafetyCheck.custom_call(
          _EXPORT_CALL[platform])])(*args)
  assert _EXPORT_CALL[platform] in exported.mlir_module()
  assert exported.out_avals[1].shape == (n, g, k)


def _ranked_reference(x, codebook, bias, k):
  """float64 top-k with NaN scores ranked as NAN_RANK: (values, indices)."""
  x64 = np.asarray(x.astype(jnp.float32), np.float64)
  c64 = np.asarray(codebook.astype(jnp.float32), np.float64)
  bias = np.asarray(bias, np.float64)
  with np.errstate(invalid="ignore"):
    scores = np.einsum("ngd,gkd->ngk", x64, c64) + bias[None]
  scores = np.where(np.isnan(scores), vq.kernels.NAN_RANK, scores)
  scores = np.where(np.isneginf(bias)[None], -np.inf, scores)
  order = np.argsort(-scores, axis=-1, kind="stable")[..., :k]
  return np.take_along_axis(scores, order, -1), order


@pytest.mark.parametrize("backend", ["gpu", "tpu"])
@pytest.mark.parametrize("k", [1, 3])
def test_nan_scores_rank_below_real_ones(backend, k):
  """NaN codes lose to every real code, beat disabled ones, and come back
  as NAN_RANK; a NaN row takes its lowest enabled codes. Indices stay in
  [0, K) (the old kernel returned the tile size for NaN rows)."""
  x, codebook, bias = _inputs(7, 37, 2, 300, 24, jnp.float32, integer=True)
  codebook = codebook.at[:, [0, 70, 200]].set(jnp.nan)  # across tiles/splits
  codebook = codebook.at[1, 5:].set(jnp.nan)  # group 1: 3 real codes
  bias = bias.at[1, [0, 1, 250]].set(-jnp.inf)  # ... one NaN code disabled
  x = x.at[[4, 30], 0].set(jnp.nan)
  values, indices = vq.nearest_codes(x, codebook, bias, k=k, interpret=True,
                                     backend=backend,
                                     block_sizes=SMALL[backend])
  want_values, want_indices = _ranked_reference(x, codebook, bias, k)
  np.testing.assert_array_equal(values, want_values.astype(np.float32))
  np.testing.assert_array_equal(indices, want_indices)


@pytest.mark.parametrize("backend", ["gpu", "tpu"])
def test_zero_feature_dim_and_empty_codebook(backend):
  bias = jnp.asarray([[0.5, 2.0, 2.0, -jnp.inf]])
  values, indices = vq.nearest_codes(
      jnp.zeros((3, 1, 0)), jnp.zeros((1, 4, 0)), bias, k=2, interpret=True,
      backend=backend)
  np.testing.assert_array_equal(values, [[[2.0, 2.0]]] * 3)
  np.testing.assert_array_equal(indices, [[[1, 2]]] * 3)
  with pytest.raises(ValueError, match="codebook is empty"):
    vq.nearest_codes(jnp.zeros((3, 1, 4)), jnp.zeros((1, 0, 4)),
                     jnp.zeros((1, 0)), k=1, interpret=True, backend=backend)


@pytest.mark.parametrize("backend", ["gpu", "tpu"])
@pytest.mark.parametrize("k", [1, 3])
def test_x64_gives_the_same_result(backend, k):
  x, codebook, bias = _inputs(8, 37, 2, 300, 24, jnp.float32)
  run = lambda: vq.nearest_codes(x, codebook, bias, k=k, interpret=True,
                                 backend=backend, block_sizes=SMALL[backend])
  want = run()
  with jax.enable_x64(True):
    got = run()
  for g, w in zip(got, want, strict=True):
    assert g.dtype == w.dtype
    np.testing.assert_array_equal(g, w)
