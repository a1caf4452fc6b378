"""ops.fde against a loop-by-loop NumPy port of the reference construction."""

import itertools

import jax
import numpy as np
import pytest
from jax import numpy as jnp

from ops.fde import (
    FDEConfig,
    fde_documents,
    fde_queries,
    fde_random_matrices,
    gray_code_index,
)


def loop_fde(points, cfg, mats, is_query, fill):
  """One cloud's FDE, point by point, as the reference C++ builds it.

  Args:
    points: [n, d] float64, the valid tokens only.
    cfg: the FDEConfig.
    mats: its `fde_random_matrices(cfg)`.
    is_query: sum per partition (else average, with optional fill).
    fill: fill empty document partitions.

  Returns:
    [cfg.output_dimension] float64.
  """
  simhash = np.asarray(mats.simhash, np.float64)
  k_sim, parts = cfg.num_simhash_projections, cfg.num_partitions
  width = cfg.inner_dimension
  out = np.zeros(cfg.num_repetitions * parts * width)

  def project(r, x):
    if mats.projection is None:
      return x
    return x @ np.asarray(mats.projection[r], np.float64)

  for r in range(cfg.num_repetitions):
    sizes = np.zeros(parts)
    for x in points:
      sketch = x @ simhash[r]
      idx = 0
      for bit in sketch > 0:
        idx = (idx << 1) + (int(bit) ^ (idx & 1))
      start = r * parts * width + idx * width
      out[start:start + width] += project(r, x)
      sizes[idx] += 1
    if is_query:
      continue
    for k in range(parts):
      start = r * parts * width + k * width
      if sizes[k] > 0:
        out[start:start + width] /= sizes[k]
        continue
      if not (fill and k_sim > 0 and len(points)):
        continue
      best, best_distance = -1, np.inf
      for i, x in enumerate(points):
        sketch = x @ simhash[r]
        binary = k ^ (k >> 1)
        distance = 0
        for j in reversed(range(k_sim)):
          distance += int(sketch[j] > 0) != (binary & 1)
          binary >>= 1
        if distance < best_distance:
          best, best_distance = i, distance
      out[start:start + width] = project(r, points[best])
  if cfg.final_projection_dimension is None:
    return out
  final = np.zeros(cfg.final_projection_dimension)
  index = np.asarray(mats.final_index)
  sign = np.asarray(mats.final_sign, np.float64)
  for i, value in enumerate(out):
    final[index[i]] += sign[i] * value
  return final


def _clouds(seed, n, length, dim):
  """Random clouds, ragged masks (one empty row), junk in the padding."""
  rng = np.random.default_rng(seed)
  tokens = rng.normal(size=(n, length, dim)).astype(np.float32)
  lengths = rng.integers(1, length + 1, size=n)
  lengths[-1] = 0
  mask = np.arange(length)[None] < lengths[:, None]
  tokens = np.where(mask[..., None], tokens, 1e3).astype(np.float32)
  return tokens, mask


CONFIGS = [
    dict(num_repetitions=2, num_simhash_projections=3),
    dict(num_repetitions=2, num_simhash_projections=3,
         fill_empty_partitions=False),
    dict(num_repetitions=3, num_simhash_projections=2,
         projection="ams_sketch", projection_dimension=4),
    dict(num_repetitions=2, num_simhash_projections=4, seed=7,
         projection="ams_sketch", projection_dimension=3,
         final_projection_dimension=40),
    dict(num_repetitions=2, num_simhash_projections=0),
    dict(num_repetitions=1, num_simhash_projections=5,
         final_projection_dimension=64),
]


@pytest.mark.parametrize("kwargs", CONFIGS)
def test_matches_loop_reference(kwargs):
  cfg = FDEConfig(dimension=6, **kwargs)
  tokens, mask = _clouds(0, 5, 7, 6)
  fill = cfg.fill_empty_partitions is not False
  queries = np.asarray(fde_queries(jnp.asarray(tokens), jnp.asarray(mask),
                                   cfg))
  docs = np.asarray(fde_documents(jnp.asarray(tokens), jnp.asarray(mask),
                                  cfg))
  assert queries.shape == docs.shape == (5, cfg.output_dimension)
  mats = fde_random_matrices(cfg)
  for i in range(5):
    points = tokens[i][mask[i]].astype(np.float64)
    np.testing.assert_allclose(
        queries[i], loop_fde(points, cfg, mats, True, False), rtol=1e-5,
        atol=1e-5)
    np.testing.assert_allclose(
        docs[i], loop_fde(points, cfg, mats, False, fill), rtol=1e-5,
        atol=1e-5)
  assert not docs[-1].any() and not queries[-1].any()  # empty cloud


def test_fill_changes_only_empty_partitions():
  on = FDEConfig(dimension=6, num_repetitions=2, num_simhash_projections=4)
  off = FDEConfig(dimension=6, num_repetitions=2, num_simhash_projections=4,
                  fill_empty_partitions=False)
  tokens, mask = _clouds(1, 3, 5, 6)
  filled = np.asarray(fde_documents(tokens, mask, on)).reshape(3, 2, 16, 6)
  plain = np.asarray(fde_documents(tokens, mask, off)).reshape(3, 2, 16, 6)
  empty = ~plain.any(-1)
  assert empty[:2].any() and (filled[:2][empty[:2]] != 0).any()
  np.testing.assert_array_equal(filled[~empty], plain[~empty])
  # Filled blocks are copies of one projected valid point.
  points = {tuple(p) for p in tokens[0][mask[0]]}
  assert all(tuple(b) in points for b in filled[0][empty[0]])


def test_zero_projections_identity_is_sum_dot_mean():
  rng = np.random.default_rng(2)
  q = rng.integers(-3, 4, size=(3, 5, 4)).astype(np.float32)
  p = rng.integers(-3, 4, size=(4, 8, 4)).astype(np.float32)
  q_mask = np.arange(5)[None] < np.array([[5], [3], [1]])
  p_mask = np.arange(8)[None] < np.array([[8], [4], [2], [1]])  # exact means
  cfg = FDEConfig(dimension=4)
  scores = np.asarray(fde_queries(q, q_mask, cfg)) @ np.asarray(
      fde_documents(p, p_mask, cfg)).T
  q_sum = np.where(q_mask[..., None], q, 0).sum(1)
  p_mean = (np.where(p_mask[..., None], p, 0).sum(1)
            / p_mask.sum(1, keepdims=True))
  np.testing.assert_array_equal(scores, q_sum @ p_mean.T)


@pytest.mark.parametrize("k", [1, 2, 3, 6])
def test_gray_code_index_is_a_bijection(k):
  bits = np.array(list(itertools.product([False, True], repeat=k)))
  idx = np.asarray(gray_code_index(jnp.asarray(bits)))
  assert sorted(idx.tolist()) == list(range(2**k))
  # GrayToBinary(idx) gives back the bits: distance 0 to its own partition.
  as_int = bits.astype(int) @ (1 << np.arange(k - 1, -1, -1))
  np.testing.assert_array_equal(idx ^ (idx >> 1), as_int)
  # Consecutive partitions differ in exactly one bit (Gray order).
  by_index = as_int[np.argsort(idx)]
  assert all(bin(a ^ b).count("1") == 1
             for a, b in zip(by_index[:-1], by_index[1:]))


def test_ams_sketch_is_unbiased():
  reps, dim, width = 2000, 16, 4
  cfg = FDEConfig(dimension=dim, num_repetitions=reps,
                  projection="ams_sketch", projection_dimension=width)
  projection = np.asarray(fde_random_matrices(cfg).projection)
  assert projection.shape == (reps, dim, width)
  assert ((projection != 0).sum(-1) == 1).all()
  assert set(np.unique(projection)) == {-1.0, 0.0, 1.0}
  rng = np.random.default_rng(3)
  x = rng.normal(size=(1, 1, dim)).astype(np.float32)
  y = (x + 0.5 * rng.normal(size=(1, 1, dim))).astype(np.float32)
  per_rep = np.sum(
      np.asarray(fde_queries(x, None, cfg)).reshape(reps, width)
      * np.asarray(fde_documents(y, None, cfg)).reshape(reps, width), -1)
  sigma = per_rep.std() / np.sqrt(reps)
  assert sigma > 0
  assert abs(per_rep.mean() - float(np.sum(x * y))) < 3 * sigma


def test_random_matrices_deterministic_and_seeded():
  cfg = FDEConfig(dimension=8, num_repetitions=3, num_simhash_projections=4,
                  projection="ams_sketch", projection_dimension=5,
                  final_projection_dimension=32)
  a, b = fde_random_matrices(cfg), fde_random_matrices(cfg)
  for x, y in zip(a, b):
    np.testing.assert_array_equal(x, y)
  # Repetition r of seed s is repetition r - 1 of seed s + 1.
  shifted = fde_random_matrices(FDEConfig(
      dimension=8, num_repetitions=3, num_simhash_projections=4, seed=2,
      projection="ams_sketch", projection_dimension=5,
      final_projection_dimension=32))
  np.testing.assert_array_equal(a.simhash[1:], shifted.simhash[:2])
  np.testing.assert_array_equal(a.projection[1:], shifted.projection[:2])
  assert not np.array_equal(a.simhash[0], a.simhash[1])
  assert not np.array_equal(a.final_index, shifted.final_index)


def test_jit_and_batching():
  cfg = FDEConfig(dimension=6, num_repetitions=2, num_simhash_projections=3)
  tokens, mask = _clouds(4, 4, 6, 6)
  eager = fde_documents(tokens, mask, cfg)
  jitted = jax.jit(fde_documents, static_argnums=2)(tokens, mask, cfg)
  np.testing.assert_allclose(jitted, eager, rtol=1e-6, atol=1e-6)
  one = fde_documents(tokens[1:2], mask[1:2], cfg)
  np.testing.assert_allclose(one[0], eager[1], rtol=1e-6, atol=1e-6)


def _spearman(a, b):
  ranks = lambda v: np.argsort(np.argsort(v))
  return np.corrcoef(ranks(a), ranks(b))[0, 1]


def test_correlation_with_chamfer_rises_with_repetitions():
  rng = np.random.default_rng(5)
  dim, topics = 16, 12
  centres = rng.normal(size=(topics, dim))

  def clouds(n, length, per_cloud):
    picks = np.stack([rng.choice(topics, per_cloud, replace=False)
                      for _ in range(n)])
    which = picks[np.arange(n)[:, None],
                  rng.integers(0, per_cloud, (n, length))]
    x = centres[which] + 0.4 * rng.normal(size=(n, length, dim))
    return (x / np.linalg.norm(x, axis=-1, keepdims=True)).astype(np.float32)

  q, p = clouds(12, 6, 2), clouds(120, 20, 4)
  chamfer = np.einsum("bid,njd->bnij", q, p).max(-1).sum(-1)
  rhos = []
  for reps in (1, 4, 16):
    cfg = FDEConfig(dimension=dim, num_repetitions=reps,
                    num_simhash_projections=3)
    scores = np.asarray(fde_queries(q, None, cfg)) @ np.asarray(
        fde_documents(p, None, cfg)).T
    rhos.append(np.mean([_spearman(s, c) for s, c in zip(scores, chamfer)]))
  assert rhos[0] + 0.03 < rhos[1] < rhos[2] - 0.015, rhos
  assert rhos[2] > 0.9, rhos


@pytest.mark.parametrize("kwargs, match", [
    (dict(dimension=0), "dimension"),
    (dict(dimension=4, num_repetitions=0), "num_repetitions"),
    (dict(dimension=4, num_simhash_projections=31), "num_simhash_projections"),
    (dict(dimension=4, num_simhash_projections=-1), "num_simhash_projections"),
    (dict(dimension=4, projection="gaussian"), "projection"),
    (dict(dimension=4, projection="ams_sketch"), "projection_dimension"),
    (dict(dimension=4, projection_dimension=3), "projection_dimension"),
    (dict(dimension=4, final_projection_dimension=0),
     "final_projection_dimension"),
    (dict(dimension=4, seed=-1), "seed"),
])
def test_bad_configs(kwargs, match):
  with pytest.raises(ValueError, match=match):
    FDEConfig(**kwargs)


def test_bad_inputs():
  cfg = FDEConfig(dimension=4, num_simhash_projections=2)
  x = jnp.zeros((2, 3, 4))
  mask = jnp.ones((2, 3), bool)
  with pytest.raises(ValueError, match="fill_empty_partitions"):
    fde_queries(x, mask, FDEConfig(dimension=4, fill_empty_partitions=True))
  with pytest.raises(ValueError, match="tokens"):
    fde_documents(jnp.zeros((2, 3, 5)), mask, cfg)
  with pytest.raises(ValueError, match="tokens"):
    fde_queries(jnp.zeros((3, 4)), None, cfg)
  with pytest.raises(ValueError, match="mask"):
    fde_documents(x, jnp.ones((2, 4), bool), cfg)
  with pytest.raises(ValueError, match="mask"):
    fde_queries(x, jnp.ones((2, 3), jnp.int32), cfg)
  with pytest.raises(ValueError, match="cfg"):
    fde_queries(x, mask, {"dimension": 4})


X64_CONFIG = FDEConfig(dimension=8, num_repetitions=2,
                       num_simhash_projections=3, projection="ams_sketch",
                       projection_dimension=5, final_projection_dimension=24)


def test_encodings_do_not_depend_on_x64():
  """Queries encoded with jax_enable_x64 on match documents encoded without
  it: every random draw names its dtype."""
  tokens = np.random.default_rng(6).normal(size=(3, 7, 8)).astype(np.float32)
  want = (fde_random_matrices(X64_CONFIG),
          fde_documents(tokens, None, X64_CONFIG),
          fde_queries(tokens, None, X64_CONFIG))
  with jax.enable_x64(True):
    got = (fde_random_matrices(X64_CONFIG),
           fde_documents(tokens, None, X64_CONFIG),
           fde_queries(tokens, None, X64_CONFIG))
  for g, w in zip(jax.tree.leaves(got), jax.tree.leaves(want), strict=True):
    assert g.dtype == w.dtype
    np.testing.assert_array_equal(g, w)


@pytest.mark.parametrize("encode", [fde_documents, fde_queries])
def test_empty_batches_and_clouds(encode):
  cfg = FDEConfig(dimension=3, num_simhash_projections=2)
  out = encode(jnp.zeros((0, 5, 3)), None, cfg)
  assert out.shape == (0, cfg.output_dimension)
  # Clouds of no token encode to zeros (no partition to fill from).
  out = encode(jnp.zeros((2, 0, 3)), None, cfg)
  np.testing.assert_array_equal(out, np.zeros((2, cfg.output_dimension)))
