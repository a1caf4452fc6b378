"""Tests for the MaxSim Pallas kernel: interpret mode and GPU/TPU lowering."""

import subprocess
import sys

import jax
import numpy as np
import pytest
from jax import numpy as jnp

from pallas_kernels.maxsim import BlockSizes, compiler_params, maxsim_scores


def brute_force(q, d, q_mask, d_mask):
  """float64 scores [B, N] and argmax [B, N, Lq] of the rounded inputs."""
  sim = np.einsum("bid,njd->bnij", np.asarray(q, np.float64),
                  np.asarray(d, np.float64))
  sim = np.where(np.asarray(d_mask)[None, :, None, :], sim, -np.inf)
  best = np.where(np.asarray(q_mask)[:, None, :], sim.max(-1), 0.0)
  return best.sum(-1), sim.argmax(-1)


def make_inputs(b, lq, n, ld, dim, dtype=jnp.float32, seed=0):
  rng = np.random.default_rng(seed)
  q = jnp.asarray(rng.standard_normal((b, lq, dim)), dtype)
  d = jnp.asarray(rng.standard_normal((n, ld, dim)), dtype)
  q_mask = rng.random((b, lq)) < 0.7
  d_mask = rng.random((n, ld)) < 0.5
  q_mask[0], d_mask[1] = False, False
  return q, d, jnp.asarray(q_mask), jnp.asarray(d_mask)


def check(scores, argmax, q_mask, expected, expected_argmax):
  scores = np.asarray(scores)
  np.testing.assert_array_equal(np.isneginf(scores), np.isneginf(expected))
  finite = np.isfinite(expected)
  np.testing.assert_allclose(scores[finite], expected[finite], rtol=1e-5,
                             atol=1e-5)
  # Positions only matter for real query tokens against non-empty docs.
  used = np.asarray(q_mask)[:, None, :] & finite[..., None]
  np.testing.assert_array_equal(np.asarray(argmax)[used],
                                expected_argmax[used])


# One or several queries and documents per program, documents split over
# several dots (doc_tokens < Ld) or not.
BLOCKS = (
    BlockSizes(queries=1, docs=1, doc_tokens=64),
    BlockSizes(queries=2, docs=4, doc_tokens=16),
    BlockSizes(queries=4, docs=2, doc_tokens=32),
    BlockSizes(queries=2, docs=8, doc_tokens=64),
)


@pytest.mark.parametrize("block", BLOCKS)
def test_all_pairs_and_argmax(block):
  q, d, q_mask, d_mask = make_inputs(5, 7, 9, 40, 24)
  expected, expected_argmax = brute_force(q, d, q_mask, d_mask)
  scores, argmax = maxsim_scores(q, d, q_mask, d_mask, with_argmax=True,
                                 block=block, backend="cpu", interpret=True)
  assert scores.shape == (5, 9) and argmax.shape == (5, 9, 7)
  assert argmax.dtype == jnp.int32
  check(scores, argmax, q_mask, expected, expected_argmax)
  alone = maxsim_scores(q, d, q_mask, d_mask, block=block, backend="cpu",
                        interpret=True)
  np.testing.assert_allclose(alone, scores, rtol=1e-6)


@pytest.mark.parametrize("with_masks", (True, False))
def test_diagonal(with_masks):
  q, d, q_mask, d_mask = make_inputs(6, 5, 6, 40, 24, jnp.bfloat16)
  if not with_masks:
    q_mask, d_mask = jnp.ones((6, 5), bool), jnp.ones((6, 40), bool)
  expected, expected_argmax = brute_force(q, d, q_mask, d_mask)
  masks = (q_mask, d_mask) if with_masks else (None, None)
  scores, argmax = maxsim_scores(q, d, *masks, diagonal=True,
                                 with_argmax=True, backend="cpu",
                                 interpret=True)
  assert scores.shape == (6,) and argmax.shape == (6, 5)
  rows = np.arange(6)
  check(scores[:, None], argmax[:, None], q_mask,
        expected[rows, rows][:, None], expected_argmax[rows, rows][:, None])


def test_without_masks_needs_no_padding_inputs():
  """Power-of-two shapes without masks: no bias, no weights, same scores."""
  q, d, _, _ = make_inputs(4, 8, 8, 32, 16)
  ones_q, ones_d = jnp.ones((4, 8), bool), jnp.ones((8, 32), bool)
  expected, _ = brute_force(q, d, ones_q, ones_d)
  for block in (None, BlockSizes(queries=2, docs=4, doc_tokens=16)):
    scores = maxsim_scores(q, d, block=block, backend="cpu", interpret=True)
    np.testing.assert_allclose(scores, expected, rtol=1e-5, atol=1e-5)
  jaxpr = str(jax.make_jaxpr(lambda q, d: maxsim_scores(
      q, d, backend="cpu", interpret=True))(q, d))
  assert "pad" not in jaxpr


def test_block_sizes():
  with pytest.raises(ValueError, match="queries must be a power of two"):
    BlockSizes(queries=3, docs=4, doc_tokens=16)
  with pytest.raises(ValueError, match="doc_tokens must be >= 16"):
    BlockSizes(queries=2, docs=4, doc_tokens=8)
  sizes = dict(num_queries=32, query_len=32, num_docs=65536, doc_len=256)
  gpu = BlockSizes.default_for(backend="gpu", **sizes)
  assert gpu.queries * 32 == 128 and gpu.doc_tokens <= 256
  tpu = BlockSizes.default_for(backend="tpu", **sizes)
  assert tpu.queries == 8 and tpu.doc_tokens == 256
  rerank = BlockSizes.default_for(backend="gpu", num_queries=1, query_len=32,
                                  num_docs=1000, doc_len=256)
  assert rerank.queries == 1 and 1000 % rerank.docs == 0
  cpu = BlockSizes.default_for(backend="cpu", num_queries=3, query_len=5,
                               num_docs=7, doc_len=11)
  assert cpu.doc_tokens == 16


def test_compiler_params_per_backend():
  block = BlockSizes(queries=4, docs=32, doc_tokens=128, num_warps=8,
                     num_stages=3)
  gpu = compiler_params("gpu", block, 2)
  assert (gpu.num_warps, gpu.num_stages) == (8, 3)
  tpu = compiler_params("tpu", block, 2)
  assert tuple(tpu.dimension_semantics) == ("parallel", "parallel")
  assert compiler_params("cpu", block, 2) is None


def test_import_loads_no_backend_module():
  code = ("import sys, pallas_kernels.maxsim; print(sorted(m for m in "
          "sys.modules if m.startswith('jax.experimental.pallas.')))")
  out = subprocess.run([sys.executable, "-c", code], capture_output=True,
                       text=True, check=True)
  assert out.stdout.strip() == "[]"


BF16, F32 = jnp.bfloat16, jnp.float32
# (B, Lq, N, Ld, D, dtype, diagonal, with_argmax, masked)
EXPORT_SHAPES = (
    (32, 32, 65536, 256, 128, BF16, False, False, False),  # full scan
    (32, 32, 65536, 256, 128, BF16, False, False, True),  # ragged docs
    (1, 32, 1000, 256, 128, BF16, False, False, False),  # reranking
    (256, 32, 256, 256, 128, BF16, False, True, True),  # in-batch training
    (256, 32, 256, 256, 128, BF16, True, True, True),
    (3, 5, 7, 11, 24, F32, False, True, True),
    (3, 5, 3, 11, 24, F32, True, True, False),
)
CUSTOM_CALLS = {"cuda": "__gpu$xla.gpu.triton", "tpu": "tpu_custom_call"}


@pytest.mark.parametrize("platform", ("cuda", "tpu"))
@pytest.mark.parametrize("shape", EXPORT_SHAPES)
def test_lowers_for_accelerators(platform, shape):
  """Runs the Triton (cuda) or Mosaic (tpu) lowering without the device."""
  b, lq, n, ld, dim, dtype, diagonal, with_argmax, masked = shape

  def fn(q, d, q_mask, d_mask):
    return maxsim_scores(
        q, d, q_mask if masked else None, d_mask if masked else None,
        diagonal=diagonal, with_argmax=with_argmax,
        backend="gpu" if platform == "cuda" else "tpu")

  args = (jax.ShapeDtypeStruct((b, lq, dim), dtype),
          jax.ShapeDtypeStruct((n, ld, dim), dtype),
          jax.ShapeDtypeStruct((b, lq), jnp.bool_),
          jax.ShapeDtypeStruct((n, ld), jnp.bool_))
  checks = [jax.export.DisabledSafetyCheck.custom_call(
      CUSTOM_CALLS[platform])]
  exported = jax.export.export(jax.jit(fn), platforms=[platform],
                               disabled_checks=checks)(*args)
  text = exported.mlir_module()
  assert CUSTOM_CALLS[platform] in text
  scores = exported.out_avals[0]
  assert scores.shape == ((b,) if diagonal else (b, n))


@pytest.mark.parametrize("block", (
    BlockSizes(queries=4, docs=32, doc_tokens=256, num_warps=8),
    BlockSizes(queries=8, docs=16, doc_tokens=64, num_warps=8, num_stages=3),
))
def test_lowers_for_gpu_with_other_tiles(block):
  args = (jax.ShapeDtypeStruct((32, 32, 128), BF16),
          jax.ShapeDtypeStruct((4096, 256, 128), BF16),
          jax.ShapeDtypeStruct((4096, 256), jnp.bool_))
  checks = [jax.export.DisabledSafetyCheck.custom_call(CUSTOM_CALLS["cuda"])]
  jax.export.export(jax.jit(lambda q, d, m: maxsim_scores(
      q, d, None, m, with_argmax=True, block=block, backend="gpu")),
                    platforms=["cuda"], disabled_checks=checks)(*args)


@pytest.mark.parametrize("backend", ("cpu", "tpu"))
@pytest.mark.parametrize("diagonal", (False, True))
def test_argmax_stays_int32_under_x64(backend, diagonal):
  """The argmax carry is int32; with jax_enable_x64 the tile argmax was
  int64 and the loop refused to trace."""
  q, d, q_mask, d_mask = make_inputs(4, 7, 4, 40, 24)
  run = lambda: maxsim_scores(
      q, d, q_mask, d_mask, diagonal=diagonal, with_argmax=True,
      block=BlockSizes(queries=2, docs=2, doc_tokens=16), backend=backend,
      interpret=True)
  want = run()
  with jax.enable_x64(True):
    got = run()
  for g, w in zip(got, want, strict=True):
    assert g.dtype == w.dtype
    np.testing.assert_array_equal(g, w)


@pytest.mark.parametrize("backend", ("cpu", "tpu"))
@pytest.mark.parametrize("diagonal", (False, True))
def test_masked_nan_tokens_take_no_part(backend, diagonal):
  q, d, q_mask, d_mask = make_inputs(4, 7, 4, 40, 24, seed=1)
  run = lambda q, d: maxsim_scores(
      q, d, q_mask, d_mask, diagonal=diagonal,
      block=BlockSizes(queries=2, docs=2, doc_tokens=16), backend=backend,
      interpret=True)
  dirty = run(jnp.where(q_mask[..., None], q, jnp.nan),
              jnp.where(d_mask[..., None], d, jnp.nan))
  np.testing.assert_array_equal(dirty, run(q, d))
