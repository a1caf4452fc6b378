"""Minimum-cost bipartite matching (the Hungarian algorithm).

    rows, cols = hungarian(cost)     # cost [..., N, M]

Each of the `K = min(N, M)` pairs `(rows[..., k], cols[..., k])` is one
matched (row, column); the pairs minimise the summed cost over every
one-to-one assignment, and are sorted by row. Set-prediction losses (DETR,
Mask2Former, X-Decoder) match their N queries to M <= N targets this way.

The assignment runs on the host: scipy's `linear_sum_assignment` called
through `jax.pure_callback`, so `hungarian` works inside `jit`, `vmap` and
`grad` (its outputs are integers; the cost gets no gradient). There is no
kernel and no `implementation` switch: the matrices are small and the
algorithm is sequential.
"""

import jax
import numpy as np
from jax import numpy as jnp
from scipy import optimize


def _assign(cost: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
  """Host side: [..., N, M] -> (rows, cols), each int32 [..., K]."""
  cost = np.asarray(cost, np.float64)
  *lead, n, m = cost.shape
  k = min(n, m)
  rows = np.zeros((*lead, k), np.int32)
  cols = np.zeros((*lead, k), np.int32)
  flat = cost.reshape(-1, n, m)
  for i, matrix in enumerate(flat):
    if not np.all(np.isfinite(matrix)):
      # Under jit the caller cannot be told; a NaN cost is its bug, so
      # match by position rather than crash the step.
      matrix = np.nan_to_num(matrix, nan=0.0, posinf=0.0, neginf=0.0)
    r, c = optimize.linear_sum_assignment(matrix)
    index = np.unravel_index(i, lead) if lead else ()
    rows[index], cols[index] = r, c
  return rows, cols


def hungarian(cost: jax.Array) -> tuple[jax.Array, jax.Array]:
  """The minimum-cost one-to-one assignment of rows to columns.

  Args:
    cost: [..., N, M] float costs (any leading batch axes); N, M >= 1.

  Returns:
    (rows, cols), each int32 [..., min(N, M)]: matched row and column
    indices, sorted by row, minimising the summed cost.

  Raises:
    ValueError: cost has fewer than two axes, an empty axis, a non-float
      dtype, or (when concrete) a non-finite entry.
  """
  cost = jnp.asarray(cost)
  if cost.ndim < 2:
    raise ValueError(f"hungarian: cost must be [..., N, M], got shape "
                     f"{cost.shape}")
  if cost.shape[-1] < 1 or cost.shape[-2] < 1:
    raise ValueError(f"hungarian: cost needs N, M >= 1, got shape "
                     f"{cost.shape}")
  if not jnp.issubdtype(cost.dtype, jnp.floating):
    raise ValueError(f"hungarian: cost must be floating point, got "
                     f"{cost.dtype}")
  if not isinstance(cost, jax.core.Tracer) and not bool(
      jnp.all(jnp.isfinite(cost))):
    raise ValueError("hungarian: cost has NaN or infinite entries")
  k = min(cost.shape[-2:])
  out = jax.ShapeDtypeStruct((*cost.shape[:-2], k), jnp.int32)
  # The callback loops over any leading axes, so vmap adds one there.
  return jax.pure_callback(_assign, (out, out), jax.lax.stop_gradient(cost),
                           vmap_method="expand_dims")
