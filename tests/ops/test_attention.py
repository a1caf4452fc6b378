"""Tests for ops.prefix_attention: every implementation, its gradient,
sharding, dispatch and input validation."""

import importlib

import jax
import numpy as np
import pytest
from jax import numpy as jnp

from ops.attention import (
    causal_mask,
    prefix_attention,
    prefix_attention_reference,
    sliding_window_mask,
    windowed_attention,
)
from tests.pallas_kernels.test_prefix_attention_kernel import (
    brute_force,
    check,
    make_case,
)

# The module, not the function that shadows it in `ops`.
attention_module = importlib.import_module("ops.attention")
IMPLS = ("xla", "interpret")


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("per_row_mask", (True, False))
def test_matches_brute_force(impl, per_row_mask):
  q, k, v, prefix_len, mask = make_case(jnp.float32, stale_nan=False)
  mask = mask if per_row_mask else mask[3]
  out = jax.jit(lambda *a: prefix_attention(*a, implementation=impl))(
      q, k, v, prefix_len, mask)
  check(out, brute_force(q, k, v, prefix_len, mask), jnp.float32)


def test_bfloat16_matches_brute_force():
  q, k, v, prefix_len, mask = make_case(jnp.bfloat16, stale_nan=False)
  out = jax.jit(lambda *a: prefix_attention(*a, implementation="xla"))(
      q, k, v, prefix_len, mask)
  assert out.dtype == jnp.bfloat16
  check(out, brute_force(q, k, v, prefix_len, mask), jnp.bfloat16)


def _out_and_grads(impl, q, k, v, prefix_len, mask, scale=None):
  """The output and the vjp of a random cotangent w.r.t. q, k, v (jitted)."""
  cotangent = jax.random.normal(jax.random.key(1), q.shape, jnp.float32)

  @jax.jit
  def run(q, k, v):
    out, vjp = jax.vjp(lambda q, k, v: prefix_attention(
        q, k, v, prefix_len, mask, scale=scale, implementation=impl), q, k, v)
    return out, vjp(cotangent)

  return run(q, k, v)


def test_gradients_match_reference_in_training():
  """Self-attention of a whole sequence (prefix 0, T = S, causal), GQA."""
  rng = np.random.default_rng(3)
  q = jnp.asarray(rng.standard_normal((2, 12, 4, 8)), jnp.float32)
  k, v = (jnp.asarray(rng.standard_normal((2, 12, 2, 8)), jnp.float32)
          for _ in range(2))
  args = (q, k, v, jnp.zeros((2,), jnp.int32), causal_mask(12))
  out, grads = _out_and_grads("interpret", *args, scale=0.3)
  want_out, want_grads = _out_and_grads("xla", *args, scale=0.3)
  np.testing.assert_allclose(out, want_out, rtol=1e-5, atol=1e-5)
  for got, want in zip(grads, want_grads, strict=True):
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
  # Query 0 sees only itself: its gradient w.r.t. q is exactly 0.
  np.testing.assert_array_equal(grads[0][:, 0], 0.0)


def test_sharded_over_mesh(mesh8):
  q, k, v, prefix_len, mask = make_case(jnp.float32, stale_nan=False)
  with jax.set_mesh(mesh8):
    out, grads = _out_and_grads("interpret", q, k, v, prefix_len, mask)
  check(out, brute_force(q, k, v, prefix_len, mask), jnp.float32)
  _, want_grads = _out_and_grads("xla", q, k, v, prefix_len, mask)
  for got, want in zip(grads, want_grads, strict=True):
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def _spy(monkeypatch):
  """Records which implementation runs; the kernel is stubbed out."""
  from pallas_kernels import prefix_attention as kernels

  calls = []
  reference = attention_module.prefix_attention_reference

  def fake_kernel(q, k, v, prefix_len, qq_mask, *, scale, interpret):
    calls.append(f"kernel interpret={interpret}")
    return reference(q, k, v, prefix_len, qq_mask, scale=scale)

  def spy_reference(*args, **kwargs):
    calls.append("reference")
    return reference(*args, **kwargs)

  monkeypatch.setattr(kernels, "prefix_attention", fake_kernel)
  monkeypatch.setattr(attention_module, "prefix_attention_reference",
                      spy_reference)
  return calls


def test_dispatch_default_env_and_argument(monkeypatch):
  q, k, v, prefix_len, mask = make_case(jnp.float32, stale_nan=False)
  calls = _spy(monkeypatch)
  monkeypatch.delenv("ZOO_IMPL", raising=False)
  prefix_attention(q, k, v, prefix_len, mask)
  assert calls == ["reference"]  # the CPU default
  monkeypatch.setenv("ZOO_IMPL", "prefix_attention=interpret,maxsim=xla")
  prefix_attention(q, k, v, prefix_len, mask)
  assert calls[-1] == "kernel interpret=True"
  prefix_attention(q, k, v, prefix_len, mask, implementation="xla")
  assert calls[-1] == "reference"  # the argument beats the environment
  with pytest.raises(NotImplementedError, match="GPU or TPU"):
    prefix_attention(q, k, v, prefix_len, mask, implementation="pallas")
  with pytest.raises(ValueError, match="unknown implementation"):
    prefix_attention(q, k, v, prefix_len, mask, implementation="cuda")


def test_kernel_dtypes_fall_back_to_xla():
  q, k, v, prefix_len, mask = make_case(jnp.float32, stale_nan=False)
  q, k, v = (a.astype(jnp.float16) for a in (q, k, v))
  out = prefix_attention(q, k, v, prefix_len, mask,
                         implementation=("interpret", "xla"))
  np.testing.assert_allclose(
      out.astype(jnp.float32), brute_force(q, k, v, prefix_len, mask),
      atol=1e-2)
  with pytest.raises(NotImplementedError, match="all float32 or all"):
    prefix_attention(q, k, v, prefix_len, mask, implementation="interpret")


F32 = jnp.float32
BAD_INPUTS = (
    (dict(q=(2, 3, 4)), "q must be \\[B, T, H, D\\]"),
    (dict(k=(2, 9, 2)), "k must be \\[B, S, Hkv, D\\]"),
    (dict(v=(3, 9, 2, 8)), "v must be \\[B, S, Hkv, D\\]"),
    (dict(k=(2, 9, 3, 8), v=(2, 9, 3, 8)), "not a multiple of 3 kv heads"),
    (dict(k=(2, 9, 2, 8)), "k \\(2, 9, 2, 8\\) and v \\(2, 10, 2, 8\\)"),
    (dict(k=(2, 2, 2, 8), v=(2, 2, 2, 8)), "holds 2 slots, fewer than"),
    (dict(prefix_len=((2,), F32)), "prefix_len must be int \\[B=2\\]"),
    (dict(prefix_len=((3,), jnp.int32)), "prefix_len must be int"),
    (dict(qq_mask=((3, 3), F32)), "qq_mask must be bool"),
    (dict(qq_mask=((3, 4), jnp.bool_)), "qq_mask must be bool \\[T, T\\]"),
    (dict(qq_mask=((1, 3, 3), jnp.bool_)), "or \\[B, T, T\\] with T=3"),
    (dict(q=(2, 3, 0, 8), k=(2, 10, 0, 8), v=(2, 10, 0, 8)),
     "at least one kv head"),
)


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("bad,message", BAD_INPUTS)
def test_bad_inputs(impl, bad, message):
  shapes = dict(q=(2, 3, 4, 8), k=(2, 10, 2, 8), v=(2, 10, 2, 8))
  dtypes = dict(prefix_len=((2,), jnp.int32), qq_mask=((3, 3), jnp.bool_))
  for name, value in bad.items():
    (dtypes if name in dtypes else shapes)[name] = value
  arrays = {name: jnp.zeros(shape, F32) for name, shape in shapes.items()}
  arrays.update({name: jnp.zeros(*spec) for name, spec in dtypes.items()})
  with pytest.raises(ValueError, match=message):
    prefix_attention(arrays["q"], arrays["k"], arrays["v"],
                     arrays["prefix_len"], arrays["qq_mask"],
                     implementation=impl)


def _stale_nan_case():
  """A cache holding NaN in every slot that no query sees: past
  `prefix_len + T` (inside a partial key block) and at a new token that
  the mask hides from every query. Returns (clean, nan) argument tuples."""
  rng = np.random.default_rng(5)
  b, t, s = 2, 3, 50
  prefix_len = np.array([10, 21])
  q = rng.standard_normal((b, t, 4, 8)).astype(np.float32)
  k, v = (rng.standard_normal((b, s, 2, 8)).astype(np.float32)
          for _ in range(2))
  mask = np.tril(np.ones((b, t, t), bool))
  mask[0, 2, 2] = False  # row 0's last new token is seen by nobody
  unseen = np.zeros((b, s), bool)
  for row, p in enumerate(prefix_len):
    unseen[row, p + t:] = True
  unseen[0, prefix_len[0] + 2] = True
  clean = [np.where(unseen[:, :, None, None], 0, a) for a in (k, v)]
  stale = [np.where(unseen[:, :, None, None], np.nan, a) for a in (k, v)]
  rest = (jnp.asarray(prefix_len, jnp.int32), jnp.asarray(mask))
  return ((jnp.asarray(q), *map(jnp.asarray, clean), *rest),
          (jnp.asarray(q), *map(jnp.asarray, stale), *rest))


@pytest.mark.parametrize("impl", IMPLS)
def test_unseen_nan_slots_take_no_part(impl):
  clean, stale = _stale_nan_case()
  want_out, want_grads = _out_and_grads(impl, *clean)
  out, grads = _out_and_grads(impl, *stale)
  np.testing.assert_array_equal(out, want_out)
  for got, want in zip(grads, want_grads, strict=True):
    assert np.isfinite(got).all()
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("q_shape,kv_shape,t", [
    ((2, 0, 4, 8), (2, 0, 2, 8), 0),  # an empty cache (T = S = 0)
    ((0, 3, 4, 8), (0, 10, 2, 8), 3),  # no rows
    ((2, 3, 0, 8), (2, 10, 2, 8), 3),  # no query heads
    ((2, 3, 4, 0), (2, 10, 2, 0), 3),  # D = 0
])
def test_zero_sized_inputs_give_zero_sized_outputs(impl, q_shape, kv_shape,
                                                   t):
  q = jnp.ones(q_shape)
  kv = jnp.ones(kv_shape)
  prefix_len = jnp.zeros((q_shape[0],), jnp.int32)
  out, grads = _out_and_grads(impl, q, kv, kv, prefix_len, causal_mask(t))
  assert out.shape == q_shape and out.dtype == q.dtype
  assert [g.shape for g in grads] == [q_shape, kv_shape, kv_shape]


def test_gradients_under_x64():
  clean, _ = _stale_nan_case()
  want_out, want_grads = _out_and_grads("xla", *clean)
  with jax.enable_x64(True):
    args = (*clean[:3], clean[3].astype(jnp.int64), clean[4])
    out, grads = _out_and_grads("interpret", *args)
  np.testing.assert_allclose(out, want_out, rtol=1e-5, atol=1e-5)
  for got, want in zip(grads, want_grads, strict=True):
    assert got.dtype == want.dtype
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("length,window", [(9, 1), (9, 4), (9, 5), (6, 6),
                                           (6, 40)])
def test_sliding_window_mask_is_the_band(length, window):
  causal = np.asarray(sliding_window_mask(length, window, causal=True))
  both = np.asarray(sliding_window_mask(length, window, causal=False))
  for i in range(length):
    for j in range(length):
      assert causal[i, j] == (i - window < j <= i)
      assert both[i, j] == (abs(i - j) <= window // 2)
  # The key exactly window // 2 away is seen, one further is not.
  half = window // 2
  if half + 1 < length:
    assert both[0, half] and not both[0, half + 1]
  if window >= length:
    np.testing.assert_array_equal(causal, causal_mask(length))


def test_sliding_window_below_one_is_refused():
  with pytest.raises(ValueError, match="window"):
    sliding_window_mask(4, 0)


@pytest.mark.parametrize("window", [1, 3, 8])
def test_windowed_attention_is_the_banded_mask_in_any_slot_order(window):
  b, t, h, hkv, d = 2, 8, 4, 2, 8
  keys = jax.random.split(jax.random.key(window), 4)
  q = jax.random.normal(keys[0], (b, t, h, d))
  k = jax.random.normal(keys[1], (b, t, hkv, d))
  v = jax.random.normal(keys[2], (b, t, hkv, d))
  positions = jnp.broadcast_to(jnp.arange(t), (b, t))
  want = prefix_attention_reference(q, k, v, jnp.zeros((b,), jnp.int32),
                                    sliding_window_mask(t, window))
  order = jax.random.permutation(keys[3], t)
  got = windowed_attention(q, k[:, order], v[:, order], positions,
                           positions[:, order], window)
  np.testing.assert_allclose(got, want, atol=1e-5)


def test_windowed_attention_never_sees_empty_slots_or_gets_nan():
  q = jnp.ones((1, 2, 1, 4))
  k = jnp.full((1, 3, 1, 4), jnp.nan)
  positions = jnp.array([[0, 1]])
  empty = jnp.full((1, 3), -1)
  out = windowed_attention(q, k, k, positions, empty, 4)
  np.testing.assert_array_equal(out, np.zeros((1, 2, 1, 4)))
  grad = jax.grad(lambda q: windowed_attention(
      q, jnp.ones((1, 3, 1, 4)), jnp.ones((1, 3, 1, 4)), positions, empty,
      4).sum())(q)
  assert np.all(np.isfinite(grad))
