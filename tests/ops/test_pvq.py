"""ops.pvq: the pyramid's size, index, search, Hadamard and coded matmul."""

import itertools
import math

import jax
import numpy as np
import pytest
from jax import numpy as jnp

from ops import pvq


def pyramid_points(dim: int, pulses: int) -> np.ndarray:
  """All y in Z^dim with sum |y| = pulses, by brute force: [V, dim]."""
  points = [y for y in itertools.product(range(-pulses, pulses + 1),
                                         repeat=dim)
            if sum(map(abs, y)) == pulses]
  return np.asarray(points, np.int32).reshape(-1, dim)


def _compositions(dim: int, pulses: int):
  """Non-negative y with sum y = pulses (faster than the full product)."""
  if dim == 1:
    yield (pulses,)
    return
  for first in range(pulses + 1):
    for rest in _compositions(dim - 1, pulses - first):
      yield (first, *rest)


def signed_points(dim: int, pulses: int) -> np.ndarray:
  """All of P(dim, pulses) from compositions and sign patterns: [V, dim]."""
  out = []
  for mags in _compositions(dim, pulses):
    nonzero = [i for i, m in enumerate(mags) if m]
    for signs in itertools.product((1, -1), repeat=len(nonzero)):
      y = list(mags)
      for i, s in zip(nonzero, signs):
        y[i] *= s
      out.append(y)
  return np.asarray(out, np.int32)


@pytest.mark.parametrize("dim", range(1, 6))
def test_size_recursion_counts_the_pyramid_and_index_is_a_bijection(dim):
  table = pvq.pvq_size_table(dim, 6)
  for pulses in range(1, 7):
    points = (pyramid_points(dim, pulses) if dim <= 3
              else signed_points(dim, pulses))
    assert int(table[dim, pulses]) == len(points), (dim, pulses)
    index = np.asarray(pvq.pvq_index(jnp.asarray(points), pulses))
    np.testing.assert_array_equal(np.sort(index), np.arange(len(points)))
    back = pvq.pvq_unindex(jnp.asarray(index, jnp.uint32), dim, pulses)
    np.testing.assert_array_equal(back, points)


def test_search_gives_k_pulses_with_the_signs_of_u():
  u = jax.random.normal(jax.random.key(0), (4000, 8))
  u = u.at[:5].set(0.0).at[5:10, :4].set(0.0)  # zero and partly zero groups
  for pulses in (1, 6, 13):
    y = np.asarray(pvq.pvq_search(u, pulses))
    assert y.dtype == np.int32
    np.testing.assert_array_equal(np.abs(y).sum(-1), pulses)
    assert np.all(y * np.asarray(u) >= 0)


def test_search_is_scale_invariant():
  u = jax.random.normal(jax.random.key(1), (500, 8))
  np.testing.assert_array_equal(pvq.pvq_search(u, 13),
                                pvq.pvq_search(u * 37.5, 13))


def opus_greedy(u: np.ndarray, pulses: int) -> np.ndarray:
  """Opus's search alone (celt/vq.c): floor(K |u| / |u|_1), then each
  missing pulse where it raises <|u|, y> / |y| most. [N, D] magnitudes."""
  a = np.abs(u)
  y = np.floor(pulses * a / a.sum(1, keepdims=True))
  rows = np.arange(len(u))
  while np.any(y.sum(1) < pulses):
    left = y.sum(1) < pulses
    xy, yy = np.sum(a * y, 1, keepdims=True), np.sum(y * y, 1, keepdims=True)
    best = np.argmax((xy + a) ** 2 / (yy + 2 * y + 1), axis=1)
    y[rows[left], best[left]] += 1
  return y


def test_greedy_search_reaches_the_best_cosine():
  """D=8, K=6: the searched point's cosine equals brute force's on >= 99%
  of Gaussian u, and is never below that of Opus's search alone."""
  points = signed_points(8, 6).astype(np.float64)
  units = points / np.linalg.norm(points, axis=1, keepdims=True)
  u = np.asarray(jax.random.normal(jax.random.key(2), (600, 8)), np.float64)
  u /= np.linalg.norm(u, axis=1, keepdims=True)
  best = (u @ units.T).max(axis=1)
  y = np.asarray(pvq.pvq_search(jnp.asarray(u, jnp.float32), 6), np.float64)
  found = np.sum(u * y, 1) / np.linalg.norm(y, axis=1)
  opus = opus_greedy(u, 6)
  opus_cos = np.sum(np.abs(u) * opus, 1) / np.linalg.norm(opus, axis=1)
  assert np.all(found <= best + 1e-9)
  assert np.all(found >= opus_cos - 1e-6)
  assert np.mean(found >= best - 1e-9) >= 0.99


def test_hadamard_is_orthonormal_self_inverse_and_blocked():
  x = jax.random.normal(jax.random.key(3), (5, 192))
  y = pvq.hadamard(x)  # three blocks of 64
  h = np.ones((1, 1))
  while len(h) < 64:  # Sylvester's construction
    h = np.block([[h, h], [h, -h]])
  h /= 8.0
  want = (np.asarray(x).reshape(5, 3, 64) @ h.T).reshape(5, 192)
  np.testing.assert_allclose(y, want, atol=1e-5)
  np.testing.assert_allclose(pvq.hadamard(y), x, atol=1e-5)
  np.testing.assert_allclose(np.linalg.norm(y, axis=1),
                             np.linalg.norm(x, axis=1), rtol=1e-5)
  with pytest.raises(ValueError, match="power of two dividing"):
    pvq.hadamard(x, block_size=48)


@pytest.mark.parametrize("bits", [3, 7, 22])
def test_pack_bits_round_trips(bits):
  n = 301
  codes = jax.random.randint(jax.random.key(4), (n,), 0, 2 ** min(bits, 30))
  codes = codes.astype(jnp.uint32) & jnp.uint32(2 ** bits - 1)
  words = pvq.pack_bits(codes, bits)
  assert words.shape == (math.ceil(n * bits / 32),)
  np.testing.assert_array_equal(pvq.unpack_bits(words, bits, n), codes)


def _gaussian(seed, rows=32, cols=256):
  return jax.random.normal(jax.random.key(seed), (rows, cols))


def test_quantize_bits_shapes_and_gains():
  w = _gaussian(5)
  q = pvq.pvq_quantize(w, dim=8, pulses=13, gain_bits=3)
  # 22-bit index + 3-bit gain per 8 weights, an fp16 scale per row.
  assert q.index_bits == 22
  assert q.bits_per_weight == pytest.approx((22 + 3) / 8 + 16 / 256)
  w_hat = np.asarray(pvq.pvq_dequantize(q))
  # Each decoded group is a gain level times the row scale along y / |y|.
  groups = w_hat.reshape(-1, 8)
  norms = np.linalg.norm(groups, axis=1)
  scale = np.repeat(np.asarray(q.scales, np.float32), 256 // 8)
  levels = pvq.gain_levels(8, 3)
  ratio = norms / scale
  assert np.all(np.min(np.abs(ratio[:, None] - levels[None]), 1) < 1e-4)
  sqnr = 10 * np.log10(np.sum(np.asarray(w) ** 2)
                       / np.sum((np.asarray(w) - w_hat) ** 2))
  assert sqnr > 14.0


def test_zero_group_decodes_to_zeros():
  w = _gaussian(6).at[3, 16:24].set(0.0).at[7].set(0.0)
  w_hat = np.asarray(pvq.pvq_dequantize(pvq.pvq_quantize(w)))
  np.testing.assert_array_equal(w_hat[3, 16:24], 0.0)
  np.testing.assert_array_equal(w_hat[7], 0.0)
  assert np.all(np.isfinite(w_hat))


def test_identity_hessian_equals_plain():
  w = _gaussian(7)
  plain = pvq.pvq_quantize(w)
  with_h = pvq.pvq_quantize(w, hessian=jnp.eye(256))
  for a, b in zip(jax.tree.leaves(plain), jax.tree.leaves(with_h)):
    np.testing.assert_array_equal(a, b)


def test_hessian_feedback_lowers_the_output_error():
  """On correlated inputs, GPTQ feedback lowers tr(E H E^T), E = W - W_hat."""
  key_x, key_mix = jax.random.split(jax.random.key(8))
  mix = jax.random.normal(key_mix, (256, 256)) / 16 + jnp.eye(256)
  x = jax.random.normal(key_x, (2048, 256)) @ mix
  h = x.T @ x
  w = _gaussian(9)

  def output_error(q):
    e = np.asarray(w - pvq.pvq_dequantize(q), np.float64)
    return np.trace(e @ np.asarray(h, np.float64) @ e.T)

  assert (output_error(pvq.pvq_quantize(w, hessian=h))
          < 0.9 * output_error(pvq.pvq_quantize(w)))


def test_matmul_is_x_times_the_decoded_matrix():
  w = _gaussian(10)
  q = pvq.pvq_quantize(w)
  x = jax.random.normal(jax.random.key(11), (3, 5, 256))
  y = pvq.pvq_matmul(x, q, implementation="xla")
  assert y.shape == (3, 5, 32)
  np.testing.assert_allclose(y, x @ pvq.pvq_dequantize(q).T, rtol=1e-5,
                             atol=1e-5)


@pytest.mark.parametrize("kwargs,message", [
    (dict(dim=16, pulses=13), r"V\(D=16, K=13\) = \d+ points do not fit"),
    (dict(dim=8, pulses=40), "do not fit a uint32"),
    (dict(dim=24), "D=24 must divide the row length 64"),
    (dict(dim=0), "D=0 must divide"),
    (dict(gain_bits=0), "gain_bits must be an int in"),
    (dict(hessian=jnp.eye(8)), r"hessian must be \[cols, cols\]"),
])
def test_bad_input_is_a_clear_error(kwargs, message):
  with pytest.raises(ValueError, match=message):
    pvq.pvq_quantize(_gaussian(12, 4, 64), **kwargs)


def test_bad_matmul_input_is_a_clear_error():
  q = pvq.pvq_quantize(_gaussian(13))
  with pytest.raises(ValueError, match=r"x must be \[\.\.\., 256\]"):
    pvq.pvq_matmul(jnp.zeros((2, 32)), q)
