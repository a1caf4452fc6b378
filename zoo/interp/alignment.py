"""Comparing the units of two networks: correlation, matching, sparse
prediction, clustering, CKA and Procrustes (Li et al., "Convergent
Learning", ICLR 2016, and the usual similarity indices).

Activations come as [samples, units]; a conv layer's [B, H, W, C] is read
over all positions, `as_units(x)` -> [B*H*W, C], as the paper does.

    c = correlation(a, b)                 # Pearson, constant units dropped
    rows, cols, r = bipartite_match(c.matrix)
    fit = sparse_prediction(a[:, c.kept_a], b[:, c.kept_b], max_inputs=4)
    linear_cka(a, b); orthogonal_procrustes(a, b)

A constant unit (a dead ReLU) has no correlation: `correlation` drops it and
lists it (`constant_a`, `constant_b`), so the matrix never holds a NaN.
Matching is `ops.matching.hungarian` (scipy's `linear_sum_assignment` in a
`jax.pure_callback`, so it also runs under jit) on the negated
correlations. LASSO and spectral clustering are scikit-learn's, on the host.
"""

import dataclasses

import jax
import numpy as np
from jax import numpy as jnp

from ops.matching import hungarian

# A unit is constant when its standard deviation is at most this fraction
# of its largest magnitude (float32 rounding leaves about 1e-7 in a
# constant column; an all-zero column is constant too).
CONSTANT_RTOL = 1e-6


def as_units(x) -> np.ndarray:
  """[..., units] activations -> [samples, units]: every leading position
  (batch, and a conv map's height and width) is one sample."""
  x = np.asarray(x)
  if x.ndim < 2:
    raise ValueError(f"activations must be [..., units] with at least two "
                     f"axes, got shape {x.shape}")
  return x.reshape(-1, x.shape[-1])


def _check_units(name: str, x, samples: int | None = None) -> jax.Array:
  x = jnp.asarray(x)
  if x.ndim != 2:
    raise ValueError(f"{name} must be [samples, units], got shape {x.shape}")
  if x.shape[0] < 2 or x.shape[1] < 1:
    raise ValueError(f"{name} needs >= 2 samples and >= 1 unit, got shape "
                     f"{x.shape}")
  if samples is not None and x.shape[0] != samples:
    raise ValueError(f"{name} has {x.shape[0]} samples, the other "
                     f"activations {samples}")
  if not jnp.issubdtype(x.dtype, jnp.floating):
    x = x.astype(jnp.float32)
  if not bool(jnp.all(jnp.isfinite(x))):
    raise ValueError(f"{name} has NaN or infinite activations")
  return x


@jax.jit
def _spread(x):
  """[N, n] -> (std, max |x|), each [n]."""
  return jnp.std(x, axis=0), jnp.max(jnp.abs(x), axis=0)


def constant_units(x) -> np.ndarray:
  """The indices of x's constant units (x: [samples, units])."""
  std, size = map(np.asarray, _spread(_check_units("activations", x)))
  return np.flatnonzero(std <= CONSTANT_RTOL * size)


@jax.jit
def _pearson(a, b):
  """[N, n_a], [N, n_b] (no constant columns) -> [n_a, n_b]."""
  unit = lambda x: (x - x.mean(0)) / jnp.linalg.norm(x - x.mean(0), axis=0)
  return jnp.clip(unit(a).T @ unit(b), -1.0, 1.0)


@dataclasses.dataclass(frozen=True)
class Correlation:
  """Pearson correlations between the non-constant units of two layers.

  Attributes:
    matrix: [len(kept_a), len(kept_b)]; finite, in [-1, 1].
    kept_a, kept_b: original indices of the units the rows and columns are.
    constant_a, constant_b: original indices of the dropped constant units.
  """

  matrix: jax.Array
  kept_a: np.ndarray
  kept_b: np.ndarray
  constant_a: np.ndarray
  constant_b: np.ndarray


def correlation(a, b=None) -> Correlation:
  """Pearson correlation of every unit of `a` with every unit of `b`.

  Args:
    a: [samples, n_a] activations.
    b: [samples, n_b] activations of the same samples; None: `a` itself
      (the within-net matrix).

  Raises:
    ValueError: a shape is not [samples, units], the sample counts differ,
      an activation is NaN or infinite, or every unit of a side is constant.
  """
  a = _check_units("a", a)
  b = a if b is None else _check_units("b", b, a.shape[0])
  kept, constant = {}, {}
  for name, x in (("a", a), ("b", b)):
    constant[name] = constant_units(x)
    kept[name] = np.setdiff1d(np.arange(x.shape[1]), constant[name])
    if not kept[name].size:
      raise ValueError(f"every unit of {name} is constant: no correlation")
  matrix = _pearson(a[:, kept["a"]], b[:, kept["b"]])
  return Correlation(matrix, kept["a"], kept["b"], constant["a"],
                     constant["b"])


def _check_matrix(matrix) -> jax.Array:
  matrix = jnp.asarray(matrix)
  if matrix.ndim != 2 or 0 in matrix.shape:
    raise ValueError(f"correlation matrix must be [n_a, n_b] with n_a, n_b "
                     f">= 1, got shape {matrix.shape}")
  return matrix


def semi_match(matrix) -> tuple[jax.Array, jax.Array]:
  """Each row's most correlated column (several rows may share one).

  Args:
    matrix: [n_a, n_b] correlations.

  Returns:
    (cols [n_a] int32, values [n_a]).
  """
  matrix = _check_matrix(matrix)
  cols = jnp.argmax(matrix, axis=1).astype(jnp.int32)
  return cols, jnp.take_along_axis(matrix, cols[:, None], axis=1)[:, 0]


def bipartite_match(matrix) -> tuple[jax.Array, jax.Array, jax.Array]:
  """The one-to-one matching of rows to columns with the largest summed
  correlation (the Hungarian algorithm on -matrix).

  Args:
    matrix: [n_a, n_b] correlations.

  Returns:
    (rows, cols, values), each [min(n_a, n_b)], sorted by row.
  """
  matrix = _check_matrix(matrix)
  rows, cols = hungarian(-matrix)
  return rows, cols, matrix[rows, cols]


@jax.jit
def _standardize(x):
  return (x - x.mean(0)) / x.std(0)


def lasso(x, y, alpha: float) -> tuple[np.ndarray, np.ndarray]:
  """L1-regularised least squares with intercept (scikit-learn's `Lasso`):
  minimises |y - x w - c|^2 / (2 samples) + alpha |w|_1 per target.

  Args:
    x: [samples, d] inputs.
    y: [samples, t] targets.
    alpha: the L1 weight, > 0.

  Returns:
    (weights [t, d], intercepts [t]).
  """
  from sklearn import linear_model  # noqa: PLC0415  (host-only, slow import)

  x = np.asarray(_check_units("x", x), np.float64)
  y = np.asarray(_check_units("y", y, x.shape[0]), np.float64)
  if not alpha > 0:
    raise ValueError(f"lasso: alpha must be > 0, got {alpha}")
  model = linear_model.Lasso(alpha=alpha, max_iter=100_000, tol=1e-10)
  model.fit(x, y)
  return model.coef_.reshape(y.shape[1], -1), np.atleast_1d(model.intercept_)


@dataclasses.dataclass(frozen=True)
class SparseFit:
  """Attributes:

    explained: [t] in-sample explained variance (R^2) of each target.
    weights: [t, d] the chosen LASSO weights (standardised units).
    num_inputs: [t] nonzero weights of each target, <= max_inputs.
  """

  explained: np.ndarray
  weights: np.ndarray
  num_inputs: np.ndarray


def sparse_prediction(x, y, max_inputs: int, num_alphas: int = 100,
                      eps: float = 1e-3) -> SparseFit:
  """Predicts each target unit from at most `max_inputs` input units: the
  paper's one-to-many mapping.

  Units are standardised; for each target the LASSO path runs over
  `num_alphas` L1 weights spaced log-evenly from the smallest that zeroes
  every weight down to `eps` times it, and the point with the largest R^2
  among those with <= `max_inputs` nonzero weights is kept.

  Args:
    x: [samples, d] input units (none constant).
    y: [samples, t] target units (none constant).
    max_inputs: the most inputs a target may use, >= 1.

  Raises:
    ValueError: bad shapes, a constant unit, or max_inputs < 1.
  """
  from sklearn import linear_model  # noqa: PLC0415

  x = _check_units("x", x)
  y = _check_units("y", y, x.shape[0])
  if max_inputs < 1:
    raise ValueError(f"sparse_prediction: max_inputs must be >= 1, got "
                     f"{max_inputs}")
  for name, units in (("x", x), ("y", y)):
    if (dead := constant_units(units)).size:
      raise ValueError(f"sparse_prediction: {name} has constant units "
                       f"{dead.tolist()}; drop them (`correlation` lists them)")
  xs = np.asarray(_standardize(x), np.float64)
  ys = np.asarray(_standardize(y), np.float64)
  n = len(xs)
  gram, xy = xs.T @ xs, xs.T @ ys
  explained, weights = [], []
  for t in range(ys.shape[1]):
    alphas = np.abs(xy[:, t]).max() / n * np.logspace(0, np.log10(eps),
                                                      num_alphas)
    # ours: 10x scikit-learn's default iterations; at the path's small
    # weights many correlated units are active and 1,000 fall short.
    _, path, _ = linear_model.lasso_path(xs, ys[:, t], alphas=alphas,
                                         precompute=gram, Xy=xy[:, t],
                                         max_iter=10_000)
    path = path[:, (path != 0).sum(0) <= max_inputs]  # [d, alphas kept]
    # |y - X w|^2 / n from the Gram matrix (y standardised: |y|^2 / n = 1).
    residual = (1 - 2 * path.T @ xy[:, t] / n
                + np.einsum("da,de,ea->a", path, gram, path) / n)
    best = int(np.argmin(residual))
    explained.append(1 - residual[best])
    weights.append(path[:, best])
  weights = np.stack(weights)
  return SparseFit(np.asarray(explained), weights, (weights != 0).sum(1))


@dataclasses.dataclass(frozen=True)
class Groups:
  """Attributes:

    labels_a, labels_b: [n_a], [n_b] each unit's group; -1 for a constant
      unit (left out).
    mixed: the fraction of groups holding units of both networks.
  """

  labels_a: np.ndarray
  labels_b: np.ndarray
  mixed: float


def spectral_groups(a, b, num_groups: int, seed: int = 0) -> Groups:
  """Many-to-many: spectral clustering of the units of both networks.

  The graph joins every pair of non-constant units of `a` and `b` (within
  and between networks) with weight max(r, 0), r their correlation (ours:
  the paper does not say how negative correlations enter).

  Args:
    a: [samples, n_a], b: [samples, n_b] activations.
    num_groups: clusters, between 2 and the number of non-constant units.
    seed: the k-means seed of scikit-learn's label assignment.
  """
  from sklearn import cluster  # noqa: PLC0415

  a = _check_units("a", a)
  b = _check_units("b", b, a.shape[0])
  joint = correlation(jnp.concatenate([a, b], axis=1))
  if not 2 <= num_groups <= len(joint.kept_a):
    raise ValueError(f"spectral_groups: num_groups must be in [2, "
                     f"{len(joint.kept_a)}] (non-constant units), got "
                     f"{num_groups}")
  affinity = np.maximum(np.asarray(joint.matrix, np.float64), 0.0)
  found = cluster.SpectralClustering(
      num_groups, affinity="precomputed", random_state=seed).fit_predict(
          affinity)
  labels = np.full(a.shape[1] + b.shape[1], -1)
  labels[joint.kept_a] = found
  labels_a, labels_b = labels[:a.shape[1]], labels[a.shape[1]:]
  both = np.intersect1d(labels_a[labels_a >= 0], labels_b[labels_b >= 0])
  return Groups(labels_a, labels_b, len(both) / num_groups)


@jax.jit
def _cka(a, b):
  a, b = a - a.mean(0), b - b.mean(0)
  cross = jnp.sum((b.T @ a)**2)
  return cross / (jnp.linalg.norm(a.T @ a) * jnp.linalg.norm(b.T @ b))


def linear_cka(a, b) -> jax.Array:
  """Linear centred kernel alignment (Kornblith et al., 2019) of two
  layers: |B^T A|_F^2 / (|A^T A|_F |B^T B|_F) for centred A, B; in [0, 1],
  invariant to orthogonal maps and isotropic scaling of either side.

  Args:
    a: [samples, n_a], b: [samples, n_b] activations.
  """
  a = _check_units("a", a)
  b = _check_units("b", b, a.shape[0])
  for name, x in (("a", a), ("b", b)):
    if len(constant_units(x)) == x.shape[1]:
      raise ValueError(f"linear_cka: every unit of {name} is constant")
  return _cka(a, b)


@jax.jit
def _procrustes(a, b):
  u, _, vt = jnp.linalg.svd(a.T @ b, full_matrices=False)
  return u @ vt


def orthogonal_procrustes(a, b) -> jax.Array:
  """The map R with orthonormal columns (rows when n_a < n_b) minimising
  |a R - b|_F, from the SVD of a^T b (as `scipy.linalg.orthogonal_procrustes`;
  no centring).

  Args:
    a: [samples, n_a], b: [samples, n_b] activations.

  Returns:
    [n_a, n_b].
  """
  a = _check_units("a", a)
  return _procrustes(a, _check_units("b", b, a.shape[0]))
