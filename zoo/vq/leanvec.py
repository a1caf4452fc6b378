"""LeanVec: inner-product search on linearly reduced, LVQ-coded vectors.

    index = build(database, d=16, queries=training_queries)   # OOD
    top, _ = search(index, test_queries, k=10, rerank=100)

A query q and a vector x are compared through <A q, B x> with A, B [d, D],
d << D; the top `rerank` candidates by that score are re-ranked with the
exact <q, x> on the full vectors, and the best k returned.

The paper's code is closed (Intel SVS ships binaries only), so the method
here is [recon] from its text, with these choices:
- LeanVec-ID: A = B = P, the top-d eigenvectors of K_X = X^T X / n
  (uncentred).
- LeanVec-OOD minimises f(A, B) = E (q^T x - q^T A^T B x)^2 =
  tr((I - A^T B)^T K_Q (I - A^T B) K_X), K_Q from training queries:
  first eigenvector search, A = B = P_beta, the top-d eigenvectors of
  (1 - beta) K_Q / |K_Q|_F + beta K_X / |K_X|_F (Frobenius norms: ours) for
  beta in {0, 0.05, ..., 1}, keeping the beta of lowest f; then Frank-Wolfe,
  alternating A and B over the spectral-norm ball {|A|_2 <= 1}: the linear
  minimiser is -U V^T from the SVD of the gradient, and the step is the
  exact line search on the segment (ours, in place of 2 / (t + 2); f is
  quadratic in each block, so f never rises).
- LVQ on the primary vectors B x: subtract the mean, then per vector its
  min l and step delta = (max - l) / (2^bits - 1), codes round((v - l) /
  delta); l and delta stored as float16, l rounded down and delta up so
  that every error stays within delta / 2.
- Search: brute force top-R by <A q, B x_hat> through
  `ops.vq_nearest(metric="ip", k=R)` with the coded database as the
  codebook (no graph), then the exact re-rank on float32 vectors.
"""

import dataclasses

import jax
import numpy as np
from jax import numpy as jnp

import ops
from zoo import registry

SYSTEM = registry.System(
    name="leanvec",
    family="vq",
    paper="LeanVec: Searching vectors faster by making them fit",
    summary="Inner-product search through learned d x D projections of "
            "queries and database (ID: PCA; OOD: query-aware), LVQ-coded "
            "primary vectors, exact re-rank.",
    claim="eval.claims.leanvec:check",
    datasets=("train.data.builders.stdlib_code_search_minilm:"
              "StdlibCodeSearchMinilm", "train.data.builders.digits:Digits"),
)

BETAS = tuple(np.round(np.linspace(0.0, 1.0, 21), 2))


def second_moment(x) -> np.ndarray:
  """K = X^T X / n, float64 [D, D]."""
  x = np.asarray(x, np.float64)
  return x.T @ x / len(x)


def top_eigenvectors(k, d: int) -> np.ndarray:
  """The d leading eigenvectors of symmetric k, as rows [d, D]."""
  values, vectors = np.linalg.eigh(k)
  return vectors[:, np.argsort(-values, kind="stable")[:d]].T


def trace_loss(a, b, k_q, k_x) -> float:
  """f(A, B) = tr((I - A^T B)^T K_Q (I - A^T B) K_X)."""
  m = np.eye(k_q.shape[0]) - a.T @ b
  return float(np.trace(m.T @ k_q @ m @ k_x))


def eigenvector_search(k_q, k_x, d: int, betas=BETAS):
  """A = B = P_beta for the beta of lowest f.

  Returns:
    (P [d, D], beta, {beta: f}).
  """
  k_qn, k_xn = k_q / np.linalg.norm(k_q), k_x / np.linalg.norm(k_x)
  losses, best = {}, None
  for beta in betas:
    p = top_eigenvectors((1 - beta) * k_qn + beta * k_xn, d)
    losses[beta] = trace_loss(p, p, k_q, k_x)
    if best is None or losses[beta] < losses[best[1]]:
      best = (p, beta)
  return best[0], best[1], losses


def _ball_minimiser(grad) -> np.ndarray:
  """argmin of <S, grad> over the spectral-norm unit ball: -U V^T."""
  u, _, vt = np.linalg.svd(grad, full_matrices=False)
  return -u @ vt


def _line_step(m, e, k_q, k_x) -> float:
  """argmin over gamma in [0, 1] of f with I - A^T B = m - gamma e."""
  slope = np.trace(e.T @ k_q @ m @ k_x)
  curvature = np.trace(e.T @ k_q @ e @ k_x)
  return float(np.clip(slope / curvature, 0.0, 1.0)) if curvature > 0 else 0.0


def frank_wolfe(a, b, k_q, k_x, steps: int = 50):
  """Block-coordinate Frank-Wolfe on f over {|A|_2 <= 1} x {|B|_2 <= 1}.

  Returns:
    (A, B, [f after each half-step]); the list never rises.
  """
  eye = np.eye(k_q.shape[0])
  history = [trace_loss(a, b, k_q, k_x)]
  for _ in range(steps):
    m = eye - a.T @ b
    g = 2 * k_q @ m @ k_x  # df/dM
    direction = _ball_minimiser(-b @ g.T) - a
    a = a + _line_step(m, direction.T @ b, k_q, k_x) * direction
    history.append(trace_loss(a, b, k_q, k_x))
    m = eye - a.T @ b
    g = 2 * k_q @ m @ k_x
    direction = _ball_minimiser(-a @ g) - b
    b = b + _line_step(m, a.T @ direction, k_q, k_x) * direction
    history.append(trace_loss(a, b, k_q, k_x))
  return a, b, history


@dataclasses.dataclass(frozen=True)
class LVQ:
  """Per-vector scalar codes: x ~ mean + lower + codes * step.

  Attributes:
    codes: [N, d] uint8 (bits <= 8).
    lower, step: [N] float16.
    mean: [d] float32, the dataset mean.
    bits: bits per code.
  """

  codes: np.ndarray
  lower: np.ndarray
  step: np.ndarray
  mean: np.ndarray
  bits: int


def _f16_toward(v, direction: float) -> np.ndarray:
  """float16 nearest v on the side of `direction` (-inf: <= v, +inf: >=)."""
  h = v.astype(np.float16)
  wrong = h > v if direction < 0 else h < v
  return np.where(wrong, np.nextafter(h, np.float16(direction)), h)


def lvq_encode(x, bits: int = 8) -> LVQ:
  """LVQ of x [N, d] with `bits` per coordinate (1 to 8)."""
  if not isinstance(bits, int) or not 1 <= bits <= 8:
    raise ValueError(f"lvq_encode: bits must be an int in [1, 8], got {bits!r}")
  x = np.asarray(x, np.float32)
  mean = x.mean(axis=0)
  r = x - mean
  lower = _f16_toward(r.min(axis=1), -np.inf)
  top = 2 ** bits - 1
  step = _f16_toward((r.max(axis=1) - lower.astype(np.float32)) / top, np.inf)
  low32, step32 = lower.astype(np.float32)[:, None], step.astype(np.float32)
  scaled = (r - low32) / np.where(step32 > 0, step32, 1.0)[:, None]
  codes = np.clip(np.round(scaled), 0, top).astype(np.uint8)
  return LVQ(codes, lower, step, mean, bits)


def lvq_decode(lvq: LVQ) -> np.ndarray:
  """[N, d] float32."""
  return (lvq.mean + lvq.lower.astype(np.float32)[:, None]
          + lvq.codes * lvq.step.astype(np.float32)[:, None])


@dataclasses.dataclass(frozen=True)
class Index:
  """Attributes:

    a, b: [d, D] float32 query and database projections.
    primary: LVQ of B x (None: float32 `primary_values`).
    primary_values: [N, d] float32, the decoded primary vectors.
    secondary: [N, D] float32 database for the re-rank.
  """

  a: np.ndarray
  b: np.ndarray
  primary: LVQ | None
  primary_values: np.ndarray
  secondary: np.ndarray


def projections(database, d: int, queries=None, fw_steps: int = 50):
  """(A, B) [d, D]: LeanVec-ID without queries, LeanVec-OOD with them."""
  dim = np.shape(database)[1]
  if not isinstance(d, int) or not 1 <= d <= dim:
    raise ValueError(f"leanvec: d must be an int in [1, D={dim}], got {d!r}")
  k_x = second_moment(database)
  if queries is None:
    p = top_eigenvectors(k_x, d)
    return p, p
  if np.shape(queries)[1] != dim:
    raise ValueError(f"leanvec: queries must be [n, {dim}], got "
                     f"{np.shape(queries)}")
  k_q = second_moment(queries)
  p, _, _ = eigenvector_search(k_q, k_x, d)
  a, b, _ = frank_wolfe(p, p, k_q, k_x, fw_steps)
  return a, b


def build(database, d: int, *, queries=None, bits: int | None = 8,
          fw_steps: int = 50) -> Index:
  """A LeanVec index of database [N, D].

  Args:
    database: [N, D] vectors.
    d: reduced dimension.
    queries: optional [n, D] training queries (LeanVec-OOD).
    bits: LVQ bits of the primary vectors; None keeps them float32.
    fw_steps: Frank-Wolfe iterations (OOD).
  """
  x = np.asarray(database, np.float32)
  a, b = projections(x, d, queries, fw_steps)
  reduced = x @ b.T.astype(np.float32)
  primary = None if bits is None else lvq_encode(reduced, bits)
  values = reduced if primary is None else lvq_decode(primary)
  return Index(a.astype(np.float32), b.astype(np.float32), primary,
               values.astype(np.float32), x)


@jax.jit
def _exact_scores(queries, secondary, candidates):
  """<q, x> of each query's candidates: [Q, D], [N, D], [Q, R] -> [Q, R]."""
  return jnp.einsum("qd,qrd->qr", queries, secondary[candidates])


def search(index: Index, queries, k: int, rerank: int):
  """Top-k by exact inner product among the top-`rerank` by <Aq, Bx_hat>.

  Args:
    index: from `build`.
    queries: [Q, D].
    k: results per query.
    rerank: candidates per query, k <= rerank <= N.

  Returns:
    (indices [Q, k] int32, exact scores [Q, k] float32), best first.
  """
  n, dim = index.secondary.shape
  if np.shape(queries)[-1] != dim:
    raise ValueError(f"leanvec.search: queries must be [Q, {dim}], got "
                     f"{np.shape(queries)}")
  if not (isinstance(k, int) and isinstance(rerank, int)
          and 1 <= k <= rerank <= n):
    raise ValueError(f"leanvec.search: need 1 <= k <= rerank <= N={n}, got "
                     f"k={k!r}, rerank={rerank!r}")
  q = jnp.asarray(queries, jnp.float32)
  candidates, _ = ops.vq_nearest(q @ index.a.T, jnp.asarray(
      index.primary_values), k=rerank, metric="ip")
  exact = _exact_scores(q, jnp.asarray(index.secondary), candidates)
  scores, order = jax.lax.top_k(exact, k)
  found = jnp.take_along_axis(candidates, order, axis=1)
  return np.asarray(found), np.asarray(scores)


def recall_at(found, exact) -> float:
  """Mean fraction of each row of `exact` [Q, k] found in `found` [Q, k]."""
  return float(np.mean([len(set(f) & set(e)) / len(e)
                        for f, e in zip(found, exact)]))


def exact_top(database, queries, k: int) -> np.ndarray:
  """[Q, k] indices of the largest exact inner products."""
  idx, _ = ops.vq_nearest(jnp.asarray(queries, jnp.float32),
                          jnp.asarray(database, jnp.float32), k=k,
                          metric="ip")
  return np.asarray(idx)
