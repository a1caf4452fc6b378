"""CRISP: per-sequence k-means of multi-vector representations.

Each sequence's valid token vectors are clustered with k-means and replaced by
the cluster means, which then play the tokens' role in MaxSim. Two regimes:
  fixed counts ("C{k}"): k_i = min(num_clusters, n_i) clusters, K =
    num_clusters slots;
  relative ("R{r}"): k_i = ceil(n_i / ratio) clusters, K = ceil(L / ratio)
    slots;
where n_i is the number of valid tokens of sequence i; slots past k_i are
masked out. Padding tokens never join a cluster.

The paper does not publish its initialisation or iteration count; the zoo's
choice, all inside jit and deterministic (no key), is:
  * farthest-point initialisation: slot 0 is the first valid token, each next
    slot the valid token farthest (squared L2) from the slots chosen so far,
    the first such token on ties;
  * `iters` Lloyd iterations: assign each valid token to its nearest enabled
    slot with `ops.vq_nearest` (l2, one codebook per sequence, ties to the
    lowest slot), then move each slot to its members' mean (an empty slot
    stays put);
  * one final assignment, whose segment means are the returned centroids.
A slot that ends without members (only possible with duplicate or
degenerate tokens) is masked out, so every valid centroid is exactly the mean
of its members. Gradients flow through those means; the assignment is
stop-gradient, so d centroid / d token = 1 / cluster size for its members.
"""

import functools

import jax
from jax import numpy as jnp

from ops.vq import vq_nearest


def _validate(tokens, mask, num_clusters, ratio, iters):
  if tokens.ndim != 3 or 0 in tokens.shape:
    raise ValueError("cluster_tokens: tokens must be a non-empty [B, L, d] "
                     f"array, got shape {tokens.shape}")
  if not jnp.issubdtype(tokens.dtype, jnp.floating):
    raise ValueError("cluster_tokens: tokens must be floating point, got "
                     f"{tokens.dtype}")
  if mask is not None and (mask.shape != tokens.shape[:2]
                           or mask.dtype != jnp.bool_):
    raise ValueError(f"cluster_tokens: mask must be bool with shape "
                     f"{tokens.shape[:2]}, got {mask.dtype} {mask.shape}")
  if (num_clusters is None) == (ratio is None):
    raise ValueError("cluster_tokens: pass exactly one of num_clusters and "
                     f"ratio, got num_clusters={num_clusters!r}, "
                     f"ratio={ratio!r}")
  for name, value, low in (("num_clusters", num_clusters, 1),
                           ("ratio", ratio, 1), ("iters", iters, 0)):
    if value is None:
      continue
    if not isinstance(value, int) or isinstance(value, bool) or value < low:
      raise ValueError(f"cluster_tokens: {name} must be an int >= {low}, "
                       f"got {value!r}")


def num_slots(length: int, *, num_clusters: int | None = None,
              ratio: int | None = None) -> int:
  """K, the number of centroid slots for sequences of `length` tokens."""
  if num_clusters is not None:
    return num_clusters
  return -(-length // ratio)


def _farthest_point_init(x, mask, slots):
  """Deterministic seeding: x [B, L, d] f32, mask [B, L] -> [B, K, d]."""
  rows = jnp.arange(x.shape[0])

  def add(j, carry):
    centroids, dist = carry
    pick = jnp.argmax(jnp.where(mask, dist, -1.0), axis=1)  # [B]
    point = x[rows, pick]  # [B, d]
    dist = jnp.minimum(dist, jnp.sum((x - point[:, None]) ** 2, axis=-1))
    return centroids.at[:, j].set(point), dist

  # With every distance +inf, slot 0 takes the first valid token.
  start = (jnp.zeros((x.shape[0], slots, x.shape[2]), jnp.float32),
           jnp.full(mask.shape, jnp.inf, jnp.float32))
  centroids, _ = jax.lax.fori_loop(0, slots, add, start)
  return centroids


def _segment_means(x, assignment, slots):
  """Per-sequence means: x [B, L, d], assignment [B, L] (-1 = none).

  Returns:
    (sums / counts [B, K, d] with 0 for empty slots, counts [B, K]).
  """
  def one(values, ids):
    sums = jax.ops.segment_sum(values, ids, num_segments=slots)
    counts = jax.ops.segment_sum(jnp.ones(ids.shape, values.dtype), ids,
                                 num_segments=slots)
    return sums / jnp.maximum(counts, 1.0)[:, None], counts

  return jax.vmap(one)(x, assignment)


@functools.partial(jax.jit, static_argnames=("num_clusters", "ratio",
                                             "iters", "implementation"))
def _assign(tokens, mask, num_clusters, ratio, iters, implementation):
  """Final k-means assignment [B, L] int32, -1 for padding."""
  slots = num_slots(tokens.shape[1], num_clusters=num_clusters, ratio=ratio)
  # Zeroed padding keeps NaN or inf out of the distance kernels.
  x = jnp.where(mask[..., None], tokens.astype(jnp.float32), 0.0)
  x = jax.lax.stop_gradient(x)
  valid = jnp.sum(mask, axis=1, dtype=jnp.int32)  # [B]
  if num_clusters is not None:
    per_sequence = jnp.minimum(valid, num_clusters)
  else:
    per_sequence = -(-valid // ratio)
  enabled = jnp.arange(slots)[None] < per_sequence[:, None]  # [B, K]
  x_by_position = jnp.swapaxes(x, 0, 1)  # [L, B, d]: group axis = sequence

  def assign(centroids):
    idx = vq_nearest(x_by_position, centroids, code_mask=enabled,
                     implementation=implementation)[0][..., 0]  # [L, B]
    return jnp.where(mask, idx.T, -1)

  def lloyd(centroids, _):
    means, counts = _segment_means(x, assign(centroids), slots)
    return jnp.where(counts[..., None] > 0, means, centroids), None

  centroids = _farthest_point_init(x, mask, slots)
  centroids, _ = jax.lax.scan(lloyd, centroids, None, length=iters)
  return assign(centroids)


def cluster_assignments(
    tokens: jax.Array,
    mask: jax.Array | None,
    *,
    num_clusters: int | None = None,
    ratio: int | None = None,
    iters: int = 10,
    implementation: str | None = None,
) -> jax.Array:
  """The cluster of every token after farthest-point init and Lloyd steps.

  Args:
    tokens: [B, L, d] token vectors, any float dtype.
    mask: [B, L] bool, True marks a real token; None means all are real.
    num_clusters: fixed count per sequence, capped by its valid tokens.
    ratio: relative mode, ceil(n_valid / ratio) clusters per sequence.
    iters: Lloyd iterations before the final assignment.
    implementation: passed to `ops.vq_nearest`.

  Returns:
    [B, L] int32 slot of each token in [0, K), -1 for padding; no gradient.
  """
  _validate(tokens, mask, num_clusters, ratio, iters)
  if mask is None:
    mask = jnp.ones(tokens.shape[:2], jnp.bool_)
  return _assign(tokens, mask, num_clusters, ratio, iters, implementation)


def cluster_tokens(
    tokens: jax.Array,
    mask: jax.Array | None,
    *,
    num_clusters: int | None = None,
    ratio: int | None = None,
    iters: int = 10,
    implementation: str | None = None,
) -> tuple[jax.Array, jax.Array]:
  """CRISP's clustered representation: each sequence's k-means centroids.

  Exactly one of `num_clusters` (fixed mode) and `ratio` (relative mode).

  Args:
    tokens: [B, L, d] token vectors, any float dtype.
    mask: [B, L] bool, True marks a real token; None means all are real.
    num_clusters: K slots; sequence i gets min(num_clusters, n_i) clusters.
    ratio: K = ceil(L / ratio) slots; sequence i gets ceil(n_i / ratio).
    iters: Lloyd iterations before the final assignment.
    implementation: passed to `ops.vq_nearest`.

  Returns:
    (centroids [B, K, d] in tokens' dtype, 0 in masked slots;
     centroid_mask [B, K] bool, True for a slot with at least one member).
    Centroids are differentiable with respect to tokens (through the means).
  """
  assignment = cluster_assignments(
      tokens, mask, num_clusters=num_clusters, ratio=ratio, iters=iters,
      implementation=implementation)
  slots = num_slots(tokens.shape[1], num_clusters=num_clusters, ratio=ratio)
  # Padding has slot -1, which segment_sum drops (no value, no gradient).
  centroids, counts = _segment_means(tokens.astype(jnp.float32), assignment,
                                     slots)
  return centroids.astype(tokens.dtype), counts > 0
