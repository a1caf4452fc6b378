"""Linear probes on activations: L2 logistic regression and ridge, jitted.

    probe = logistic_probe(acts, labels, c=1.0)   # acts [N, F], labels [N]
    probe.predict(acts)                            # [N] ints
    probe = ridge_probe(acts, targets, alpha=1.0)  # targets [N] or [N, K]

Both solve the objectives scikit-learn solves, so their coefficients equal
scikit-learn's (to 1e-3 on well-posed problems, tests/zoo/test_probes.py):
- `logistic_probe` = `LogisticRegression(C=c)` (L2 penalty, intercept not
  penalised): it minimises `c * sum_n loss_n + |coef|^2 / 2` with the
  sigmoid loss for two classes (one coefficient row, as scikit-learn) and
  the softmax loss for more (one row per class, intercepts summing to 0,
  which is where scikit-learn's L-BFGS from zero also ends). We run
  Newton's method with a backtracking line search; it is convex, so both
  reach the same minimiser.
- `ridge_probe` = `Ridge(alpha=alpha)`: `|y - X w - b|^2 + alpha |w|^2`,
  solved in closed form on centred data.

Labels are class indices 0..K-1, every class present.
"""

import flax.struct
import jax
import numpy as np
from jax import numpy as jnp

# Armijo sufficient-decrease constant and the smallest step tried.
_ARMIJO = 1e-4
_MIN_STEP = 1e-8


@flax.struct.dataclass
class LinearProbe:
  """A fitted linear probe (scikit-learn's `coef_` and `intercept_`).

  Attributes:
    coef: [K, F]; K = 1 for a binary logistic probe or a 1-output ridge.
    intercept: [K].
  """

  coef: jax.Array
  intercept: jax.Array

  def decision(self, x):
    """[N, F] -> [N, K] scores (logits for a logistic probe)."""
    return x @ self.coef.T + self.intercept

  def predict(self, x):
    """[N, F] -> [N] class indices (logistic probes)."""
    scores = self.decision(x)
    if scores.shape[1] == 1:
      return (scores[:, 0] > 0).astype(jnp.int32)
    return jnp.argmax(scores, axis=1)


def _check_features(x, n=None):
  x = np.asarray(x)
  if x.ndim != 2 or x.shape[0] == 0:
    raise ValueError(f"probes: x must be [N, F] with N >= 1, got shape "
                     f"{x.shape}")
  if n is not None and x.shape[0] != n:
    raise ValueError(f"probes: x has {x.shape[0]} rows but the targets have "
                     f"{n}")
  if not np.isfinite(x).all():
    raise ValueError("probes: x holds NaN or inf")
  return x.astype(np.float32)


def logistic_probe(x, labels, c: float = 1.0, fit_intercept: bool = True,
                   max_iter: int = 50, tol: float = 1e-6) -> LinearProbe:
  """L2-regularised logistic regression, as `LogisticRegression(C=c)`.

  Args:
    x: [N, F] features.
    labels: [N] class indices 0..K-1 (K >= 2, each present).
    c: inverse regularisation strength (> 0).
    fit_intercept: fit an unpenalised intercept (else it is 0).
    max_iter: Newton steps at most.
    tol: stop once the gradient's largest entry is below it.

  Returns:
    The probe; coef [1, F] for two classes, [K, F] for more.
  """
  labels = np.asarray(labels)
  if labels.ndim != 1 or not np.issubdtype(labels.dtype, np.integer):
    raise ValueError(f"logistic_probe: labels must be a 1-D integer array, "
                     f"got {labels.dtype} of shape {labels.shape}")
  x = _check_features(x, len(labels))
  classes = np.unique(labels)
  if len(classes) < 2 or not np.array_equal(classes,
                                            np.arange(len(classes))):
    raise ValueError(f"logistic_probe: labels must cover 0..K-1 with K >= 2, "
                     f"got classes {classes.tolist()}")
  if not c > 0:
    raise ValueError(f"logistic_probe: c must be > 0, got {c}")
  coef, intercept = _fit_logistic(jnp.asarray(x), jnp.asarray(labels),
                                  jnp.float32(c), len(classes),
                                  fit_intercept, max_iter, tol)
  return LinearProbe(coef, intercept)


def _objective(w, xa, onehot, penalty, binary):
  """Mean loss plus the penalty; w [F+1, K'], xa [N, F+1] (ones last)."""
  z = xa @ w
  if binary:
    loss = jnp.sum(jax.nn.softplus(z) - onehot * z)
  else:
    loss = jnp.sum(jax.nn.logsumexp(z, axis=1) - jnp.sum(onehot * z, 1))
  return loss / xa.shape[0] + 0.5 * jnp.sum(penalty[:, None] * w * w)


def _probabilities(w, xa, binary):
  """[N, K'] sigmoid (two classes) or softmax probabilities."""
  z = xa @ w
  return jax.nn.sigmoid(z) if binary else jax.nn.softmax(z, axis=1)


def _gradient(w, xa, onehot, penalty, binary):
  """[F+1, K'], of `_objective`."""
  p = _probabilities(w, xa, binary)
  return xa.T @ (p - onehot) / xa.shape[0] + penalty[:, None] * w


def _hessian(w, xa, penalty, binary):
  """[(F+1) K', (F+1) K'], of `_objective`."""
  p = _probabilities(w, xa, binary)
  if binary:
    curvature = (p * (1 - p))[:, :, None]  # [N, 1, 1]
  else:
    curvature = (jax.vmap(jnp.diag)(p)
                 - p[:, :, None] * p[:, None, :])  # [N, K, K]
  size = w.size
  return jnp.einsum("na,nb,nkl->akbl", xa, xa, curvature).reshape(
      size, size) / xa.shape[0] + jnp.diag(jnp.repeat(penalty, w.shape[1]))


@jax.jit(static_argnums=(3, 4, 5, 6))
def _fit_logistic(x, labels, c, num_classes, fit_intercept, max_iter, tol):
  n, f = x.shape
  binary = num_classes == 2
  onehot = (labels[:, None] == 1 if binary else
            labels[:, None] == jnp.arange(num_classes)).astype(x.dtype)
  xa = jnp.concatenate([x, jnp.ones((n, 1), x.dtype)], axis=1)
  # Mean loss + |coef|^2 / (2 c n): scikit-learn's objective over c n.
  penalty = jnp.concatenate([jnp.full((f,), 1 / (c * n)),
                             jnp.zeros((1,))]).astype(x.dtype)
  keep = jnp.ones((f + 1, 1), x.dtype).at[f].set(float(fit_intercept))
  k = onehot.shape[1]
  # Unpenalised softmax intercepts are free along "all equal"; adding that
  # direction to the Hessian picks the step orthogonal to it (the gradient
  # is), so the intercepts keep summing to 0 from 0.
  free = jnp.zeros((f + 1, k), x.dtype).at[f].set(1.0 / k).reshape(-1)
  kept = jnp.repeat(keep, k, axis=1).reshape(-1)

  def gradient(w):
    return _gradient(w, xa, onehot, penalty, binary) * keep

  def terms(w):
    hess = _hessian(w, xa, penalty, binary)
    if not binary:
      hess = hess + jnp.outer(free, free) * k
    # A dropped intercept: its rows and columns become the identity's, and
    # its gradient 0, so it stays 0.
    hess = hess * jnp.outer(kept, kept) + jnp.diag(1 - kept)
    return gradient(w), hess

  def newton(state):
    w, grad, hess, step_count = state
    value = _objective(w, xa, onehot, penalty, binary)
    direction = jnp.linalg.solve(hess, grad.reshape(-1)).reshape(w.shape)
    slope = jnp.sum(grad * direction)
    steepness = jnp.max(jnp.abs(grad))

    # Armijo on the objective, or (near the minimum, where f32 cannot see
    # the objective fall) a smaller gradient.
    def too_long(t):
      moved = w - t * direction
      worse = _objective(moved, xa, onehot, penalty, binary)
      still = jnp.max(jnp.abs(gradient(moved)))
      return ((worse > value - _ARMIJO * t * slope)
              & (still > (1 - _ARMIJO * t) * steepness) & (t > _MIN_STEP))
    t = jax.lax.while_loop(too_long, lambda t: t / 2,
                           jnp.asarray(1.0, x.dtype))
    w = w - t * direction
    return (w, *terms(w), step_count + 1)

  def going(state):
    _, grad, _, step_count = state
    return (step_count < max_iter) & (jnp.max(jnp.abs(grad)) > tol)

  w0 = jnp.zeros((f + 1, k), x.dtype)
  w, _, _, _ = jax.lax.while_loop(going, newton, (w0, *terms(w0), 0))
  return w[:f].T, w[f]


def ridge_probe(x, targets, alpha: float = 1.0,
                fit_intercept: bool = True) -> LinearProbe:
  """Ridge regression, as `Ridge(alpha=alpha)`.

  Args:
    x: [N, F] features.
    targets: [N] or [N, K] real targets.
    alpha: L2 strength (>= 0; 0 needs X^T X invertible).
    fit_intercept: fit an unpenalised intercept (centre x and targets).

  Returns:
    The probe: coef [K, F] (K = 1 for 1-D targets), intercept [K].
  """
  targets = np.asarray(targets, np.float32)
  if targets.ndim not in (1, 2) or not np.isfinite(targets).all():
    raise ValueError(f"ridge_probe: targets must be finite [N] or [N, K], "
                     f"got shape {targets.shape}")
  x = _check_features(x, len(targets))
  if not alpha >= 0:
    raise ValueError(f"ridge_probe: alpha must be >= 0, got {alpha}")
  coef, intercept = _fit_ridge(jnp.asarray(x), jnp.asarray(
      targets.reshape(len(targets), -1)), jnp.float32(alpha), fit_intercept)
  return LinearProbe(coef, intercept)


@jax.jit(static_argnums=3)
def _fit_ridge(x, y, alpha, fit_intercept):
  x_mean = jnp.mean(x, 0) if fit_intercept else jnp.zeros(x.shape[1])
  y_mean = jnp.mean(y, 0) if fit_intercept else jnp.zeros(y.shape[1])
  xc, yc = x - x_mean, y - y_mean
  gram = xc.T @ xc + alpha * jnp.eye(x.shape[1], dtype=x.dtype)
  coef = jnp.linalg.solve(gram, xc.T @ yc).T  # [K, F]
  return coef, y_mean - coef @ x_mean
