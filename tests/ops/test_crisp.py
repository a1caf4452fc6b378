"""ops.crisp: per-sequence k-means against NumPy loops and MaxSim identities."""

import jax
import numpy as np
import pytest
from jax import numpy as jnp

import ops
from ops.crisp import cluster_assignments, cluster_tokens


def _ragged(lengths, length):
  return np.arange(length)[None] < np.asarray(lengths)[:, None]


def _distinct_integer_tokens(rng, batch, length, dim):
  """Small-integer tokens, all distinct within a sequence; junk padding."""
  x = np.stack([rng.permutation(np.arange(-6, 7))[:length] for _ in range(
      batch * dim)]).reshape(batch, dim, length).transpose(0, 2, 1)
  return x.astype(np.float32)


def loop_kmeans(points, k, iters):
  """The documented algorithm, point by point: [n, d] -> [n] slots."""
  n = len(points)
  chosen = [0]
  dist = np.sum((points - points[0]) ** 2, -1)
  while len(chosen) < k:
    best = int(np.argmax(dist))
    chosen.append(best)
    dist = np.minimum(dist, np.sum((points - points[best]) ** 2, -1))
  centroids = points[chosen].copy()

  def assign(c):
    return np.array([int(np.argmin(np.sum((c - p) ** 2, -1)))
                     for p in points])

  for _ in range(iters):
    a = assign(centroids)
    for j in range(k):
      if (a == j).any():
        centroids[j] = points[a == j].mean(0)
  assert n >= k
  return assign(centroids)


def loop_segment_means(tokens, assignment, slots):
  centroids = np.zeros((len(tokens), slots, tokens.shape[-1]))
  valid = np.zeros((len(tokens), slots), bool)
  for b in range(len(tokens)):
    for j in range(slots):
      members = tokens[b][assignment[b] == j]
      if len(members):
        centroids[b, j], valid[b, j] = members.mean(0), True
  return centroids, valid


@pytest.mark.parametrize("mode", [dict(num_clusters=4), dict(ratio=5),
                                  dict(num_clusters=6, iters=0)])
def test_assignment_matches_loop_kmeans(mode):
  rng = np.random.default_rng(0)
  lengths = [24, 13, 5, 2, 1]
  tokens = rng.normal(size=(5, 24, 5)).astype(np.float32)
  mask = _ragged(lengths, 24)
  iters = mode.get("iters", 10)
  got = np.asarray(cluster_assignments(tokens, mask, **mode))
  if iters:  # the Lloyd steps move some token away from its seed's cluster
    assert (got != np.asarray(cluster_assignments(
        tokens, mask, **dict(mode, iters=0)))).any()
  for b, n in enumerate(lengths):
    k = (min(mode["num_clusters"], n) if "num_clusters" in mode
         else -(-n // mode["ratio"]))
    want = loop_kmeans(tokens[b, :n].astype(np.float64), k, iters)
    np.testing.assert_array_equal(got[b, :n], want)
    assert (got[b, n:] == -1).all()


def test_centroids_are_segment_means_of_the_assignment():
  rng = np.random.default_rng(1)
  tokens = rng.normal(size=(5, 11, 6)).astype(np.float32)
  mask = _ragged([11, 7, 4, 3, 0], 11)
  for mode, slots in ((dict(num_clusters=4), 4), (dict(ratio=3), 4)):
    centroids, valid = cluster_tokens(tokens, mask, **mode)
    assignment = np.asarray(cluster_assignments(tokens, mask, **mode))
    want, want_valid = loop_segment_means(tokens, assignment, slots)
    assert centroids.shape == (5, slots, 6) and valid.shape == (5, slots)
    np.testing.assert_array_equal(valid, want_valid)
    np.testing.assert_allclose(centroids, want, rtol=1e-6, atol=1e-6)


def test_well_separated_blobs_are_recovered():
  rng = np.random.default_rng(2)
  centres = 10.0 * rng.normal(size=(3, 4))
  labels = rng.integers(0, 3, size=(2, 12))
  labels[:, :3] = np.arange(3)
  tokens = (centres[labels] + 0.01 * rng.normal(size=(2, 12, 4))).astype(
      np.float32)
  assignment = np.asarray(cluster_assignments(tokens, None, num_clusters=3))
  for a, t in zip(assignment, labels):
    pairs = set(zip(a.tolist(), t.tolist()))
    assert len(pairs) == 3  # a relabelling of the true partition


@pytest.mark.parametrize("mode", [dict(num_clusters=6), dict(ratio=1),
                                  dict(num_clusters=9)])
def test_one_token_per_cluster_keeps_maxsim(mode):
  rng = np.random.default_rng(3)
  q = _distinct_integer_tokens(rng, 3, 6, 4)
  d = _distinct_integer_tokens(rng, 4, 6, 4)
  q_mask = _ragged([6, 4, 1], 6)
  d_mask = _ragged([6, 5, 2, 1], 6)
  qc, qc_mask = cluster_tokens(q, q_mask, **mode)
  dc, dc_mask = cluster_tokens(d, d_mask, **mode)
  np.testing.assert_array_equal(qc_mask.sum(1), q_mask.sum(1))
  np.testing.assert_array_equal(dc_mask.sum(1), d_mask.sum(1))
  for c, c_mask, x, x_mask in ((qc, qc_mask, q, q_mask),
                               (dc, dc_mask, d, d_mask)):
    for b in range(len(x)):
      assert (sorted(map(tuple, np.asarray(c[b])[np.asarray(c_mask[b])]))
              == sorted(map(tuple, x[b][x_mask[b]])))
  clustered = ops.maxsim(qc, dc, q_mask=qc_mask, d_mask=dc_mask)
  plain = ops.maxsim(jnp.asarray(q), jnp.asarray(d), q_mask=jnp.asarray(
      q_mask), d_mask=jnp.asarray(d_mask))
  np.testing.assert_array_equal(clustered, plain)


def test_one_doc_cluster_is_the_mean():
  rng = np.random.default_rng(4)
  q = rng.normal(size=(3, 5, 8)).astype(np.float32)
  d = rng.normal(size=(4, 7, 8)).astype(np.float32)
  q_mask = _ragged([5, 3, 1], 5)
  d_mask = _ragged([7, 6, 2, 1], 7)
  dc, dc_mask = cluster_tokens(d, d_mask, num_clusters=1)
  assert dc.shape == (4, 1, 8) and bool(dc_mask.all())
  mean = (np.where(d_mask[..., None], d, 0).sum(1)
          / d_mask.sum(1, keepdims=True))
  np.testing.assert_allclose(dc[:, 0], mean, rtol=1e-6, atol=1e-6)
  scores = ops.maxsim(jnp.asarray(q), dc, q_mask=jnp.asarray(q_mask),
                      d_mask=dc_mask)
  want = np.einsum("bid,nd->bn", np.where(q_mask[..., None], q, 0), mean)
  np.testing.assert_allclose(scores, want, rtol=1e-5, atol=1e-5)


def test_padding_never_joins():
  rng = np.random.default_rng(5)
  tokens = rng.normal(size=(3, 8, 4)).astype(np.float32)
  mask = _ragged([8, 5, 2], 8)
  results = []
  for pad in (0.0, 1e4, np.nan, -np.inf):
    padded = np.where(mask[..., None], tokens, pad).astype(np.float32)
    for mode in (dict(num_clusters=3), dict(ratio=2)):
      assignment = np.asarray(cluster_assignments(padded, mask, **mode))
      assert (assignment[~mask] == -1).all() and (assignment[mask] >= 0).all()
      results.append((assignment, *map(np.asarray,
                                       cluster_tokens(padded, mask, **mode))))
  for i, result in enumerate(results):  # against pad = 0, same mode
    for got, want in zip(result, results[i % 2]):
      np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("mode, slots, counts", [
    (dict(ratio=2), 5, [5, 4, 2, 1, 1]),
    (dict(ratio=3), 4, [4, 3, 1, 1, 1]),
    (dict(num_clusters=3), 3, [3, 3, 3, 2, 1]),
])
def test_valid_centroid_counts(mode, slots, counts):
  rng = np.random.default_rng(6)
  tokens = rng.normal(size=(5, 10, 4)).astype(np.float32)
  mask = _ragged([10, 7, 3, 2, 1], 10)
  centroids, valid = cluster_tokens(tokens, mask, **mode)
  assert centroids.shape == (5, slots, 4)
  np.testing.assert_array_equal(np.asarray(valid).sum(1), counts)
  np.testing.assert_array_equal(np.asarray(centroids)[~np.asarray(valid)], 0)


def test_duplicate_tokens_leave_empty_slots_masked():
  tokens = np.ones((1, 5, 3), np.float32)
  centroids, valid = cluster_tokens(tokens, None, num_clusters=3)
  np.testing.assert_array_equal(valid, [[True, False, False]])
  np.testing.assert_array_equal(centroids[0, 0], 1.0)


def test_gradient_is_centroid_gradient_over_cluster_size():
  rng = np.random.default_rng(7)
  q = jnp.asarray(rng.normal(size=(2, 6, 4)), jnp.float32)
  d = jnp.asarray(rng.normal(size=(3, 9, 4)), jnp.float32)
  q_mask = jnp.asarray(_ragged([6, 4], 6))
  d_mask = jnp.asarray(_ragged([9, 6, 3], 9))
  dc, dc_mask = cluster_tokens(d, d_mask, num_clusters=3)
  weights = jnp.asarray(rng.normal(size=(2, 3)), jnp.float32)

  def loss_of_centroids(centroids):
    return jnp.sum(weights * ops.maxsim(q, centroids, q_mask=q_mask,
                                        d_mask=dc_mask))

  def loss_of_tokens(tokens):
    return loss_of_centroids(cluster_tokens(tokens, d_mask, num_clusters=3)[0])

  g_centroid = np.asarray(jax.grad(loss_of_centroids)(dc))
  g_token = np.asarray(jax.jit(jax.grad(loss_of_tokens))(d))
  assignment = np.asarray(cluster_assignments(d, d_mask, num_clusters=3))
  assert np.abs(g_centroid).sum() > 0
  for b in range(3):
    for t in range(9):
      a = assignment[b, t]
      if a < 0:
        np.testing.assert_array_equal(g_token[b, t], 0.0)
        continue
      size = (assignment[b] == a).sum()
      np.testing.assert_allclose(g_token[b, t], g_centroid[b, a] / size,
                                 rtol=1e-5, atol=1e-6)


def test_jit_matches_eager_and_is_deterministic():
  rng = np.random.default_rng(8)
  tokens = jnp.asarray(rng.normal(size=(3, 7, 4)), jnp.bfloat16)
  mask = jnp.asarray(_ragged([7, 4, 2], 7))
  eager = cluster_tokens(tokens, mask, ratio=2)
  jitted = jax.jit(lambda t, m: cluster_tokens(t, m, ratio=2))(tokens, mask)
  again = cluster_tokens(tokens, mask, ratio=2)
  assert eager[0].dtype == jnp.bfloat16
  for a, b, c in zip(eager, jitted, again):
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(a, c)


@pytest.mark.parametrize("kwargs, match", [
    (dict(), "exactly one"),
    (dict(num_clusters=2, ratio=2), "exactly one"),
    (dict(num_clusters=0), "num_clusters"),
    (dict(num_clusters=2.0), "num_clusters"),
    (dict(ratio=0), "ratio"),
    (dict(ratio=True), "ratio"),
    (dict(num_clusters=2, iters=-1), "iters"),
])
def test_bad_arguments(kwargs, match):
  tokens = jnp.zeros((2, 4, 3))
  with pytest.raises(ValueError, match=match):
    cluster_tokens(tokens, jnp.ones((2, 4), bool), **kwargs)


def test_bad_inputs():
  with pytest.raises(ValueError, match="tokens"):
    cluster_tokens(jnp.zeros((4, 3)), None, num_clusters=2)
  with pytest.raises(ValueError, match="tokens"):
    cluster_tokens(jnp.zeros((2, 0, 3)), None, num_clusters=2)
  with pytest.raises(ValueError, match="tokens"):
    cluster_tokens(jnp.zeros((2, 4, 3), jnp.int32), None, num_clusters=2)
  with pytest.raises(ValueError, match="mask"):
    cluster_tokens(jnp.zeros((2, 4, 3)), jnp.ones((2, 3), bool),
                   num_clusters=2)
  with pytest.raises(ValueError, match="mask"):
    cluster_assignments(jnp.zeros((2, 4, 3)), jnp.ones((2, 4)), ratio=2)



def test_a_nan_token_gets_a_slot_and_implementations_agree():
  """A NaN token poisons its sequence's means, but every token still gets a
  slot in [0, K) and the implementations agree (they rank NaN alike); the
  other sequences are unaffected."""
  rng = np.random.default_rng(9)
  tokens = rng.normal(size=(2, 9, 4)).astype(np.float32)
  tokens[0, 3, 1] = np.nan
  got = {impl: np.asarray(cluster_assignments(
      jnp.asarray(tokens), None, num_clusters=3, implementation=impl))
         for impl in ("xla", "interpret")}
  np.testing.assert_array_equal(got["interpret"], got["xla"])
  assert ((got["xla"] >= 0) & (got["xla"] < 3)).all()
  np.testing.assert_array_equal(got["xla"][1], np.asarray(cluster_assignments(
      jnp.asarray(tokens[1:]), None, num_clusters=3))[0])
