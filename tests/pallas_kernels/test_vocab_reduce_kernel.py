"""Tests for the vocabulary-reduction Pallas kernels (interpret + export).

Both kernel bodies run in interpret mode against float64 numpy on logits
full of ties (small integers), rows with fewer finite logits than k, a row
of -inf, and vocabularies that are not a whole number of tiles. Exporting
for "cuda" and "tpu" runs the Triton and Mosaic lowerings on CPU.
"""

import jax
import numpy as np
import pytest
from jax import numpy as jnp

from pallas_kernels.vocab_reduce import (
    MAX_K,
    BlockSizes,
    compiler_params,
    vocab_stats,
)

N, V = 7, 300


def make_logits(dtype, seed=0):
  """Rows: 0-1 small integers (ties everywhere); 2, 6 wide normals; 3 three
  finite logits among -inf; 4 all equal; 5 all -inf."""
  rng = np.random.default_rng(seed)
  x = rng.integers(-3, 4, (N, V)).astype(np.float64)
  x[2] = 5 * rng.standard_normal(V)
  x[6] = 20 * rng.standard_normal(V)
  x[3] = -np.inf
  x[3, [7, 150, 299]] = [1.0, 2.0, 1.0]
  x[4] = 0.5
  x[5] = -np.inf
  return jnp.asarray(x, dtype)


def brute_force(logits, k):
  """float64 logsumexp, entropy and top-k (ties: lowest id first)."""
  x = np.asarray(logits.astype(jnp.float32), np.float64)
  peak = x.max(1, keepdims=True)
  shifted = np.where(np.isfinite(x), x - np.where(np.isfinite(peak), peak, 0),
                     -np.inf)
  total = np.exp(shifted).sum(1)
  with np.errstate(divide="ignore"):
    lse = np.where(total > 0, peak[:, 0] + np.log(total), -np.inf)
    p = np.exp(shifted) / np.where(total > 0, total, 1)[:, None]
    entropy = -np.sum(np.where(p > 0, p * np.log(np.where(p > 0, p, 1)), 0),
                      axis=1)
  order = np.argsort(-x, axis=1, kind="stable")[:, :k]
  return lse, entropy, np.take_along_axis(x, order, 1), order


# (kernel body, k, dtype, tiles): the GPU body with the vocabulary padded to
# one tile (default), with a partial last tile and two rows per program; the
# TPU body with a partial last tile and with the whole vocabulary as a tile.
CASES = (
    ("gpu", 1, jnp.bfloat16, None),
    ("gpu", 8, jnp.float32, BlockSizes(block_rows=2, block_vocab=64)),
    ("tpu", 5, jnp.float32, BlockSizes(block_rows=8, block_vocab=128)),
    ("tpu", 2, jnp.bfloat16, None),
)


@pytest.mark.parametrize("backend,k,dtype,block_sizes", CASES)
def test_matches_brute_force(backend, k, dtype, block_sizes):
  logits = make_logits(dtype)
  lse, entropy, values, ids = vocab_stats(
      logits, k=k, block_sizes=block_sizes,
      backend=backend if backend == "tpu" else None, interpret=True)
  assert lse.shape == entropy.shape == (N,)
  assert values.shape == ids.shape == (N, k) and ids.dtype == jnp.int32
  want_lse, want_entropy, want_values, want_ids = brute_force(logits, k)
  np.testing.assert_allclose(lse, want_lse, rtol=1e-6)
  np.testing.assert_allclose(entropy, want_entropy, rtol=1e-5, atol=1e-5)
  np.testing.assert_array_equal(values, want_values)
  np.testing.assert_array_equal(ids, want_ids)


def test_block_sizes():
  gpu = BlockSizes.default_for(vocab=128000, backend="gpu")
  assert (gpu.block_rows, gpu.block_vocab) == (1, 4096)
  assert BlockSizes.default_for(vocab=300, backend="gpu").block_vocab == 512
  tpu = BlockSizes.default_for(vocab=128000, backend="tpu")
  assert tpu.block_rows % 16 == 0 and tpu.block_vocab % 128 == 0
  with pytest.raises(ValueError, match="block_vocab must be a power of two"):
    BlockSizes(block_rows=1, block_vocab=100).validate("gpu")
  with pytest.raises(ValueError, match="block_vocab must be a multiple"):
    BlockSizes(block_rows=8, block_vocab=64).validate("tpu")
  with pytest.raises(ValueError, match="block_rows must be a positive int"):
    BlockSizes(block_rows=0, block_vocab=64).validate("gpu")


def test_compiler_params_per_backend():
  tiles = BlockSizes(block_rows=1, block_vocab=4096, num_warps=8,
                     num_stages=3)
  gpu = compiler_params("gpu", tiles)
  assert (gpu.num_warps, gpu.num_stages) == (8, 3)
  assert tuple(compiler_params("tpu", tiles).dimension_semantics) == (
      "parallel", "arbitrary")


def test_bad_arguments():
  logits = make_logits(jnp.float32)
  with pytest.raises(ValueError, match="logits must be \\[N, V\\]"):
    vocab_stats(logits[0], k=1, interpret=True)
  with pytest.raises(ValueError, match="k must be an int in \\[1, V=300\\]"):
    vocab_stats(logits, k=0, interpret=True)
  with pytest.raises(NotImplementedError, match="k=33 > 32"):
    vocab_stats(logits, k=MAX_K + 1, interpret=True)
  with pytest.raises(NotImplementedError, match="float32 or bfloat16"):
    vocab_stats(logits.astype(jnp.float16), k=1, interpret=True)
  with pytest.raises(NotImplementedError, match="no compiled Pallas kernel"):
    vocab_stats(logits, k=1)


# (N, V, k, dtype)
EXPORT_SHAPES = (
    (4096, 128000, 8, jnp.bfloat16),  # the benchmark
    (4096, 128000, 2, jnp.bfloat16),  # argmax and margin
    (7, 50257, MAX_K, jnp.float32),
    (3, 100, 1, jnp.float32),
)
CUSTOM_CALLS = {"cuda": "__gpu$xla.gpu.triton", "tpu": "tpu_custom_call"}


@pytest.mark.parametrize("platform", ("cuda", "tpu"))
@pytest.mark.parametrize("shape", EXPORT_SHAPES)
def test_lowers_for_accelerators(platform, shape):
  """Runs the Triton (cuda) or Mosaic (tpu) lowering without the device."""
  n, vocab, k, dtype = shape
  checks = [jax.export.DisabledSafetyCheck.custom_call(
      CUSTOM_CALLS[platform])]
  exported = jax.export.export(
      jax.jit(lambda x: vocab_stats(
          x, k=k, backend="gpu" if platform == "cuda" else "tpu")),
      platforms=[platform], disabled_checks=checks,
  )(jax.ShapeDtypeStruct((n, vocab), dtype))
  assert CUSTOM_CALLS[platform] in exported.mlir_module()
  assert exported.out_avals[2].shape == (n, k)


@pytest.mark.parametrize("block_sizes", (
    BlockSizes(block_rows=1, block_vocab=8192, num_warps=4, num_stages=2),
    BlockSizes(block_rows=4, block_vocab=1024, num_warps=8, num_stages=4),
))
def test_lowers_for_gpu_with_other_tiles(block_sizes):
  """The tilings the benchmark compares (and taller row blocks) lower."""
  checks = [jax.export.DisabledSafetyCheck.custom_call(CUSTOM_CALLS["cuda"])]
  jax.export.export(
      jax.jit(lambda x: vocab_stats(x, k=8, block_sizes=block_sizes,
                                    backend="gpu")),
      platforms=["cuda"], disabled_checks=checks,
  )(jax.ShapeDtypeStruct((4096, 128000), jnp.bfloat16))


@pytest.mark.parametrize("backend,k,dtype,block_sizes", CASES)
def test_nan_logits_rank_as_minus_inf(backend, k, dtype, block_sizes):
  """NaN logits rank (and come back) as -inf ones and make the row's
  log-normaliser and entropy NaN; the old kernel dropped every tile whose
  max was NaN and reported -inf statistics."""
  logits = np.array(make_logits(jnp.float32))
  nan_rows = [1, 2, 3]
  logits[1, ::7] = np.nan  # a NaN in every tile
  logits[2, np.argmax(logits[2])] = np.nan
  logits[3, [0, 7]] = np.nan  # among the -inf ones
  run = lambda x: vocab_stats(
      jnp.asarray(x, dtype), k=k, block_sizes=block_sizes,
      backend=backend if backend == "tpu" else None, interpret=True)
  lse, entropy, values, ids = run(logits)
  want = run(np.where(np.isnan(logits), -np.inf, logits))
  np.testing.assert_array_equal(values, want[2])
  np.testing.assert_array_equal(ids, want[3])
  others = np.setdiff1d(np.arange(N), nan_rows)
  for got, expected in ((lse, want[0]), (entropy, want[1])):
    assert np.isnan(np.asarray(got)[nan_rows]).all()
    np.testing.assert_array_equal(np.asarray(got)[others],
                                  np.asarray(expected)[others])


@pytest.mark.parametrize("backend,k,dtype,block_sizes", CASES)
def test_x64_gives_the_same_result(backend, k, dtype, block_sizes):
  run = lambda: vocab_stats(
      make_logits(dtype), k=k, block_sizes=block_sizes,
      backend=backend if backend == "tpu" else None, interpret=True)
  want = run()
  with jax.enable_x64(True):
    got = run()
  for g, w in zip(got, want, strict=True):
    assert g.dtype == w.dtype
    np.testing.assert_array_equal(g, w)
