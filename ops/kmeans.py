"""k-means (k-means++ seeding, Lloyd iterations) on the nearest-codeword op."""

import jax
import numpy as np
from jax import numpy as jnp

from ops.vq import vq_nearest


def _kmeans_plus_plus(x, w, num_clusters, key):
  """Arthur & Vassilvitskii's seeding: each new centre is drawn with
  probability proportional to weight x squared distance to the chosen ones."""
  keys = jax.random.split(key, num_clusters)
  first = jax.random.choice(keys[0], x.shape[0], p=w / jnp.sum(w))
  centroids = jnp.zeros((num_clusters, x.shape[1]), x.dtype).at[0].set(
      x[first])
  dist = jnp.sum((x - x[first]) ** 2, axis=-1)

  def add(i, carry):
    centroids, dist = carry
    p = w * dist
    # When every weighted vector is already a centre, fall back to weights.
    p = jnp.where(jnp.sum(p) > 0, p, w)
    pick = jax.random.choice(keys[i], x.shape[0], p=p / jnp.sum(p))
    dist = jnp.minimum(dist, jnp.sum((x - x[pick]) ** 2, axis=-1))
    return centroids.at[i].set(x[pick]), dist

  centroids, _ = jax.lax.fori_loop(1, num_clusters, add, (centroids, dist))
  return centroids


def kmeans(
    x: jax.Array,
    num_clusters: int,
    key: jax.Array,
    *,
    iters: int = 10,
    weights: jax.Array | None = None,
    implementation: str | None = None,
) -> tuple[jax.Array, jax.Array]:
  """Clusters vectors with Lloyd's algorithm, seeded by distinct samples.

  Args:
    x: [N, d] float vectors, N >= 1 (a jax or numpy array).
    num_clusters: K >= 1; when K exceeds the number of distinct vectors some
      centroids start as repeats and stay where they are if unused.
    key: PRNG key for the k-means++ seeding.
    iters: Lloyd iterations.
    weights: optional [N] non-negative weights (0 removes a vector).
    implementation: passed to `ops.vq_nearest`.

  Returns:
    (centroids [K, d] in x's dtype, assignment [N] int32).
  """
  # numpy inputs would be indexed by tracers inside the seeding loop.
  x = jnp.asarray(x)
  if x.ndim != 2 or x.shape[0] == 0:
    raise ValueError("kmeans: x must be [N, d] with at least one vector, got "
                     f"shape {x.shape}")
  if not isinstance(num_clusters, int | np.integer) or num_clusters < 1:
    raise ValueError("kmeans: num_clusters must be an int >= 1, got "
                     f"{num_clusters!r}")
  n = x.shape[0]
  w = jnp.ones((n,), jnp.float32) if weights is None else jnp.asarray(weights)
  if w.shape != (n,):
    raise ValueError(f"kmeans: weights must have shape ({n},) like x's rows, "
                     f"got {w.shape}")
  w = w.astype(jnp.float32)
  centroids = _kmeans_plus_plus(x.astype(jnp.float32), w, num_clusters, key)

  def step(c, _):
    idx = vq_nearest(x.astype(jnp.float32), c,
                     implementation=implementation)[0][:, 0]
    sums = jax.ops.segment_sum(x.astype(jnp.float32) * w[:, None], idx,
                               num_segments=num_clusters)
    counts = jax.ops.segment_sum(w, idx, num_segments=num_clusters)
    new = jnp.where(counts[:, None] > 0,
                    sums / jnp.maximum(counts, 1e-12)[:, None], c)
    return new, None

  centroids, _ = jax.lax.scan(step, centroids, None, length=iters)
  assignment = vq_nearest(x.astype(jnp.float32), centroids,
                          implementation=implementation)[0][:, 0]
  return centroids.astype(x.dtype), assignment
