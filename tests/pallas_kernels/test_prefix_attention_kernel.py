"""Tests for the prefix-attention Pallas kernels (interpret mode + export).

Both kernel bodies (the GPU loop kernel and the TPU grid kernel) run in
interpret mode against a float64 brute force computed from the same
(bf16-rounded) inputs, on one batch whose rows cover the mask patterns of
parallel decoding. Exporting for "cuda" and "tpu" runs the Triton and
Mosaic lowerings on CPU at the benchmark shapes.
"""

import jax
import numpy as np
import pytest
from jax import numpy as jnp

from pallas_kernels.prefix_attention import (
    BlockSizes,
    compiler_params,
    prefix_attention,
)

B, T, H, HKV, D, S = 6, 5, 6, 2, 24, 300
# Row 5 sees exactly the first 128 slots (a whole number of key blocks on
# both backends) and its cache holds nan from slot 133 on.
PREFIX = (0, 37, S - T, 0, S - 2, 128)
NAN_FROM = 128 + T


def random_parent(rng, t):
  """A random tree: node 0 is the root, each node's parent comes before it."""
  return np.array([-1] + [rng.integers(0, i) for i in range(1, t)])


def tree_mask(parent):
  """[T, T] bool: row i holds i and its ancestors (walked one by one)."""
  t = len(parent)
  mask = np.zeros((t, t), bool)
  for i in range(t):
    node = i
    while node >= 0:
      mask[i, node] = True
      node = parent[node]
  return mask


def make_case(dtype, seed=0, stale_nan=True):
  """Inputs whose rows cover the masks and prefix lengths that matter.

  Rows: 0 a chain over an empty prefix; 1 a random tree; 2 a full block
  ending at the cache's last slot; 3 random, with a query that sees nothing;
  4 random, new tokens running past the cache's end; 5 a random tree over
  a cache holding nan past the visible slots (with stale_nan).
  """
  rng = np.random.default_rng(seed)
  q = rng.standard_normal((B, T, H, D))
  k = rng.standard_normal((B, S, HKV, D))
  v = rng.standard_normal((B, S, HKV, D))
  if stale_nan:
    k[5, NAN_FROM:] = v[5, NAN_FROM:] = np.nan
  mask = np.stack([
      np.tril(np.ones((T, T), bool)),
      tree_mask(random_parent(rng, T)),
      np.ones((T, T), bool),
      rng.random((T, T)) < 0.5,
      rng.random((T, T)) < 0.5,
      tree_mask(random_parent(rng, T)),
  ])
  mask[3, 2] = False
  return (jnp.asarray(q, dtype), jnp.asarray(k, dtype), jnp.asarray(v, dtype),
          jnp.asarray(PREFIX, jnp.int32), jnp.asarray(mask))


def brute_force(q, k, v, prefix_len, qq_mask, scale=None):
  """float64 attention of the rounded inputs, with visibility by the rules.

  Slots the rules hide contribute nothing, whatever they hold.
  """
  q, k, v = (np.asarray(jnp.asarray(a, jnp.float32), np.float64)
             for a in (q, k, v))
  b, t, h, d = q.shape
  s, hkv = k.shape[1], k.shape[2]
  mask = np.broadcast_to(np.asarray(qq_mask), (b, t, t))
  visible = np.zeros((b, t, s), bool)
  for row, p in enumerate(np.asarray(prefix_len)):
    visible[row, :, :max(0, min(p, s))] = True
    for j in range(t):
      if 0 <= p + j < s:
        visible[row, :, p + j] = mask[row, :, j]
  k = np.where(visible.any(1)[:, :, None, None], k, 0.0)
  v = np.where(visible.any(1)[:, :, None, None], v, 0.0)
  head_kv = np.arange(h) // (h // hkv)
  scale = d ** -0.5 if scale is None else scale
  logits = np.einsum("bthd,bshd->bhts", q, k[:, :, head_kv]) * scale
  logits = np.where(visible[:, None], logits, -np.inf)
  peak = logits.max(-1, keepdims=True)
  weights = np.where(visible[:, None],
                     np.exp(logits - np.where(np.isfinite(peak), peak, 0)), 0)
  total = weights.sum(-1, keepdims=True)
  probs = weights / np.where(total > 0, total, 1)
  return np.einsum("bhts,bshd->bthd", probs, v[:, :, head_kv])


def check(out, expected, dtype):
  out = np.asarray(out.astype(jnp.float32))
  tol = 1e-5 if dtype == jnp.float32 else 3e-2
  np.testing.assert_allclose(out, expected, rtol=tol, atol=tol)
  # A query that sees nothing (row 3 has no prefix) outputs exactly 0.
  np.testing.assert_array_equal(out[3, 2], 0.0)


# (kernel body, dtype, [B, T, T] mask, tiles): the GPU body with several
# token blocks and two cache splits, and with its default tiles.
CASES = (
    ("gpu", jnp.float32, True, BlockSizes(block_queries=4, block_keys=16,
                                          num_splits=2)),
    ("gpu", jnp.bfloat16, False, None),
    ("tpu", jnp.float32, True, BlockSizes(block_queries=16, block_keys=128)),
    ("tpu", jnp.bfloat16, False, None),
)


@pytest.mark.parametrize("backend,dtype,per_row_mask,block_sizes", CASES)
def test_matches_brute_force(backend, dtype, per_row_mask, block_sizes):
  q, k, v, prefix_len, mask = make_case(dtype)
  if not per_row_mask:  # row 3's mask, with a query that sees no new token
    mask = mask[3]
  out = prefix_attention(q, k, v, prefix_len, mask, block_sizes=block_sizes,
                         backend=backend if backend == "tpu" else None,
                         interpret=True)
  assert out.shape == q.shape and out.dtype == dtype
  check(out, brute_force(q, k, v, prefix_len, mask), dtype)


def test_block_sizes():
  shape = dict(batch=8, num_new=64, num_heads=16, num_kv_heads=16,
               head_dim=128, num_slots=4160, itemsize=2)
  gpu = BlockSizes.default_for(backend="gpu", **shape)
  assert gpu.block_queries == 64 and gpu.block_keys == 64
  assert gpu.num_splits == 2  # 128 (row, head) programs fill half an H100
  tpu = BlockSizes.default_for(backend="tpu", **shape)
  assert (tpu.block_queries, tpu.block_keys, tpu.num_splits) == (64, 512, 1)
  gqa = BlockSizes.default_for(backend="gpu", **{**shape, "num_kv_heads": 2})
  assert gqa.block_queries * 8 == 128
  long_cache = BlockSizes.default_for(backend="gpu",
                                      **{**shape, "batch": 256})
  assert long_cache.num_splits == 1
  with pytest.raises(ValueError, match="block_keys must be a power of two"):
    BlockSizes(block_queries=4, block_keys=24).validate("gpu")
  with pytest.raises(ValueError, match="block_queries must be a multiple"):
    BlockSizes(block_queries=8, block_keys=128).validate("tpu")
  with pytest.raises(ValueError, match="num_splits must be 1 on TPU"):
    BlockSizes(block_queries=16, block_keys=128, num_splits=2).validate("tpu")
  with pytest.raises(ValueError, match="backend must be one of"):
    BlockSizes.default_for(backend="cpu", **shape)


def test_compiler_params_per_backend():
  tiles = BlockSizes(block_queries=64, block_keys=64, num_warps=8,
                     num_stages=3)
  gpu = compiler_params("gpu", tiles)
  assert (gpu.num_warps, gpu.num_stages) == (8, 3)
  tpu = compiler_params("tpu", tiles)
  assert tuple(tpu.dimension_semantics) == (
      "parallel", "parallel", "parallel", "arbitrary")


def test_without_accelerator_or_interpret_is_not_implemented():
  q, k, v, prefix_len, mask = make_case(jnp.float32)
  with pytest.raises(NotImplementedError, match="no compiled Pallas kernel"):
    prefix_attention(q, k, v, prefix_len, mask)
  with pytest.raises(NotImplementedError, match="all float32 or all"):
    prefix_attention(q, k.astype(jnp.bfloat16), v, prefix_len, mask,
                     interpret=True)


BF16, F32 = jnp.bfloat16, jnp.float32
# (B, T, H, Hkv, D, S, dtype, [B, T, T] mask)
EXPORT_SHAPES = (
    (8, 64, 16, 16, 128, 4160, BF16, False),  # the benchmark
    (8, 64, 16, 16, 128, 4160, BF16, True),
    (4, 1, 32, 8, 128, 1000, BF16, False),  # one-token decode, GQA
    (2, 200, 8, 2, 64, 5000, BF16, True),  # long draft, several row blocks
    (3, 5, 6, 2, 24, 40, F32, True),  # odd sizes, cache below one block
)
CUSTOM_CALLS = {"cuda": "__gpu$xla.gpu.triton", "tpu": "tpu_custom_call"}


@pytest.mark.parametrize("platform", ("cuda", "tpu"))
@pytest.mark.parametrize("shape", EXPORT_SHAPES)
def test_lowers_for_accelerators(platform, shape):
  """Runs the Triton (cuda) or Mosaic (tpu) lowering without the device."""
  b, t, h, hkv, d, s, dtype, per_row_mask = shape

  def fn(q, k, v, prefix_len, mask):
    return prefix_attention(q, k, v, prefix_len, mask,
                            backend="gpu" if platform == "cuda" else "tpu")

  args = (jax.ShapeDtypeStruct((b, t, h, d), dtype),
          jax.ShapeDtypeStruct((b, s, hkv, d), dtype),
          jax.ShapeDtypeStruct((b, s, hkv, d), dtype),
          jax.ShapeDtypeStruct((b,), jnp.int32),
          jax.ShapeDtypeStruct((b, t, t) if per_row_mask else (t, t),
                               jnp.bool_))
  checks = [jax.export.DisabledSafetyCheck.custom_call(
      CUSTOM_CALLS[platform])]
  exported = jax.export.export(jax.jit(fn), platforms=[platform],
                               disabled_checks=checks)(*args)
  assert CUSTOM_CALLS[platform] in exported.mlir_module()
  assert exported.out_avals[0].shape == (b, t, h, d)


@pytest.mark.parametrize("block_sizes", (
    BlockSizes(block_queries=64, block_keys=128, num_splits=8, num_warps=8,
               num_stages=2),
    BlockSizes(block_queries=16, block_keys=32, num_splits=1, num_warps=4,
               num_stages=4),
))
def test_lowers_for_gpu_with_other_tiles(block_sizes):
  """The tilings the benchmark compares also lower."""
  args = [jax.ShapeDtypeStruct((8, 64, 16, 128), BF16),
          *[jax.ShapeDtypeStruct((8, 4160, 16, 128), BF16)] * 2,
          jax.ShapeDtypeStruct((8,), jnp.int32),
          jax.ShapeDtypeStruct((8, 64, 64), jnp.bool_)]
  checks = [jax.export.DisabledSafetyCheck.custom_call(CUSTOM_CALLS["cuda"])]
  jax.export.export(jax.jit(lambda *a: prefix_attention(
      *a, block_sizes=block_sizes, backend="gpu")), platforms=["cuda"],
                    disabled_checks=checks)(*args)


@pytest.mark.parametrize("backend,dtype,per_row_mask,block_sizes", CASES)
def test_nan_in_every_unseen_slot(backend, dtype, per_row_mask, block_sizes):
  """NaN in every slot past `prefix_len + T` (inside partial key blocks on
  most rows) and in new tokens that no query sees reaches no output."""
  q, k, v, prefix_len, mask = make_case(dtype, stale_nan=False)
  if not per_row_mask:
    mask = mask[3]
  rows_mask = np.broadcast_to(np.asarray(mask), (B, T, T))
  unseen = np.zeros((B, S), bool)
  for row, p in enumerate(PREFIX):
    unseen[row, p + T:] = True
    hidden = np.flatnonzero(~rows_mask[row].any(0))  # new tokens seen by none
    unseen[row, [p + j for j in hidden if p + j < S]] = True
  k, v = (jnp.where(unseen[:, :, None, None], jnp.nan, a) for a in (k, v))
  out = prefix_attention(q, k, v, prefix_len, mask, block_sizes=block_sizes,
                         backend=backend if backend == "tpu" else None,
                         interpret=True)
  check(out, brute_force(q, k, v, prefix_len, mask), dtype)


@pytest.mark.parametrize("backend,dtype,per_row_mask,block_sizes", CASES)
def test_x64_gives_the_same_result(backend, dtype, per_row_mask, block_sizes):
  """int64 prefix lengths and Python ints under jax_enable_x64 (the TPU
  index map divided int32 by int64)."""
  q, k, v, prefix_len, mask = make_case(dtype)
  if not per_row_mask:
    mask = mask[3]
  run = lambda lengths: prefix_attention(
      q, k, v, lengths, mask, block_sizes=block_sizes,
      backend=backend if backend == "tpu" else None, interpret=True)
  want = run(prefix_len)
  with jax.enable_x64(True):
    got = run(prefix_len.astype(jnp.int64))
  assert got.dtype == want.dtype
  np.testing.assert_array_equal(got, want)
