"""Sparse codes of dictionary learning: which latents of an SAE fire, and
decoding from the few that do.

  - `batch_topk_mask`: the k·B largest entries of a [B, W] batch (BatchTopK:
    k per row on average, any split between rows).
  - `top_afa_mask`: top-AFA's per-row k*, the count of largest latents whose
    decoded norm best matches ||x - b_dec|| (Lee et al. 2025).
  - `jumprelu`, `heaviside`: z·H(z - θ) and H(z - θ) with the
    rectangle-kernel pseudo-gradient in θ (Rajamanoharan et al. 2024).
  - `sparse_decode`: sum_j v_j W[i_j], a gather-sum over k active rows in
    place of a [B, W] @ [W, d] matmul.

Per-row top-k is `ops.sparse.topk_mask`. Each op has a `*_reference` in
plain jnp; the public op validates its input and runs it under jit.
"""

import functools

import jax
from jax import numpy as jnp


def _fail(op: str, message: str):
  raise ValueError(f"{op}: {message}")


def _check_codes(op: str, name: str, x, ndim: int = 2) -> None:
  if x.ndim != ndim or not jnp.issubdtype(x.dtype, jnp.floating):
    _fail(op, f"{name} must be a {ndim}-d float array, got {x.dtype} "
              f"{x.shape}")


def batch_topk_mask_reference(x: jax.Array, k: int) -> jax.Array:
  """`batch_topk_mask` in plain jnp (no validation)."""
  flat = x.reshape(-1)
  _, top = jax.lax.top_k(flat, k * x.shape[0])  # ties: lower flat index
  return jnp.zeros(flat.shape, jnp.bool_).at[top].set(True).reshape(x.shape)


_batch_topk_mask = jax.jit(batch_topk_mask_reference, static_argnames=("k",))


def batch_topk_mask(x: jax.Array, k: int) -> jax.Array:
  """The k·B largest entries of x [B, W] over the whole batch, as a bool
  mask; ties go to the lower (row-major) index, so exactly k·B are True.

  Raises:
    ValueError: x not a [B, W] float array, or k outside [1, W].
  """
  _check_codes("batch_topk_mask", "x", x)
  if not isinstance(k, int) or not 1 <= k <= x.shape[1]:
    _fail("batch_topk_mask", f"k must be an int in [1, {x.shape[1]}] (the "
                             f"width), got {k!r}")
  return _batch_topk_mask(x, k)


def top_afa_mask_reference(a: jax.Array, row_norms: jax.Array,
                           target: jax.Array) -> tuple[jax.Array, jax.Array]:
  """`top_afa_mask` in plain jnp (no validation)."""
  # f32 energies: a bf16 running sum picks another k* on ~4% of rows.
  a, row_norms, target = (x.astype(jnp.float32) for x in (a, row_norms,
                                                          target))
  scores = jnp.square(a * row_norms)  # [B, W]
  order = jnp.argsort(-scores, axis=-1, stable=True)
  cum = jnp.cumsum(jnp.take_along_axis(scores, order, -1), axis=-1)
  # The last count is never chosen: a row whose latents fall short of r
  # keeps all but one, as the paper's code does.
  cum = cum.at[:, -1].set(jnp.inf)
  k = jnp.argmin(jnp.abs(jnp.sqrt(cum) - target[:, None]), axis=-1) + 1
  # The first k of each row's order, scattered back (no second sort).
  rows = jnp.arange(a.shape[0])[:, None]
  kept = jnp.arange(a.shape[1]) < k[:, None]
  mask = jnp.zeros(a.shape, jnp.bool_).at[rows, order].set(kept)
  return mask, k.astype(jnp.int32)


_top_afa_mask = jax.jit(top_afa_mask_reference)


def top_afa_mask(a: jax.Array, row_norms: jax.Array,
                 target: jax.Array) -> tuple[jax.Array, jax.Array]:
  """Top-AFA's adaptive per-row top-k.

  Latents are ranked by their decoded energy (a_i ||W_dec,i||)^2; k* is
  the count whose cumulative energy's square root is closest to the
  target norm (first on ties), at most W - 1.

  Args:
    a: [B, W] non-negative pre-activations.
    row_norms: [W] decoder row norms.
    target: [B] the norms to match, ||x - b_dec||.

  Returns:
    ([B, W] bool mask of the k* kept latents per row, [B] int32 k*).
  """
  _check_codes("top_afa_mask", "a", a)
  _check_codes("top_afa_mask", "row_norms", row_norms, 1)
  _check_codes("top_afa_mask", "target", target, 1)
  b, w = a.shape
  if w < 2 or row_norms.shape != (w,) or target.shape != (b,):
    _fail("top_afa_mask", f"a [B, W >= 2] {a.shape} needs row_norms [W] and "
                          f"target [B], got {row_norms.shape} and "
                          f"{target.shape}")
  return _top_afa_mask(a, row_norms, target)


def _rectangle(u):
  return (jnp.abs(u) < 0.5).astype(u.dtype)


@functools.partial(jax.custom_vjp, nondiff_argnums=(2,))
def jumprelu(z: jax.Array, threshold: jax.Array, bandwidth: float):
  """z·H(z - θ), θ [W] broadcast over z [..., W].

  Backward: dz = H(z - θ); dθ = -(θ/ε)·K((z - θ)/ε) with the rectangle
  kernel K and bandwidth ε, the straight-through estimate that lets θ
  learn although the forward pass is flat in it.
  """
  return jnp.where(z > threshold, z, 0.0)


def _jumprelu_fwd(z, threshold, bandwidth):
  return jumprelu(z, threshold, bandwidth), (z, threshold)


def _jumprelu_bwd(bandwidth, saved, g):
  z, threshold = saved
  kernel = _rectangle((z - threshold) / bandwidth)
  d_threshold = -(threshold / bandwidth) * kernel * g
  axes = tuple(range(z.ndim - threshold.ndim))
  return (jnp.where(z > threshold, g, 0.0), d_threshold.sum(axes))


jumprelu.defvjp(_jumprelu_fwd, _jumprelu_bwd)


@functools.partial(jax.custom_vjp, nondiff_argnums=(2,))
def heaviside(z: jax.Array, threshold: jax.Array, bandwidth: float):
  """H(z - θ) as floats, the L0 of a JumpReLU code; dθ = -(1/ε)·K((z -
  θ)/ε), dz = 0."""
  return (z > threshold).astype(z.dtype)


def _heaviside_fwd(z, threshold, bandwidth):
  return heaviside(z, threshold, bandwidth), (z, threshold)


def _heaviside_bwd(bandwidth, saved, g):
  z, threshold = saved
  d_threshold = -_rectangle((z - threshold) / bandwidth) / bandwidth * g
  axes = tuple(range(z.ndim - threshold.ndim))
  return jnp.zeros_like(z), d_threshold.sum(axes)


heaviside.defvjp(_heaviside_fwd, _heaviside_bwd)


def sparse_decode_reference(ids: jax.Array, values: jax.Array,
                            dictionary: jax.Array) -> jax.Array:
  """`sparse_decode` in plain jnp (no validation): the gather-sum."""
  return jnp.einsum("bk,bkd->bd", values, dictionary[ids])


_sparse_decode = jax.jit(sparse_decode_reference)


def sparse_decode(ids: jax.Array, values: jax.Array,
                  dictionary: jax.Array) -> jax.Array:
  """Decodes k active latents per row: sum_j values[b, j] dictionary[ids[b,
  j]].

  Args:
    ids: [B, k] int latent ids in [0, W).
    values: [B, k] their activations.
    dictionary: [W, d] decoder rows.

  Returns:
    [B, d], equal to the dense code [B, W] @ dictionary.
  """
  if ids.ndim != 2 or not jnp.issubdtype(ids.dtype, jnp.integer):
    _fail("sparse_decode", f"ids must be [B, k] integers, got {ids.dtype} "
                           f"{ids.shape}")
  _check_codes("sparse_decode", "values", values)
  _check_codes("sparse_decode", "dictionary", dictionary)
  if values.shape != ids.shape:
    _fail("sparse_decode", f"values {values.shape} must match ids "
                           f"{ids.shape}")
  if not isinstance(ids, jax.core.Tracer) and ids.size and (
      ids.min() < 0 or ids.max() >= dictionary.shape[0]):
    _fail("sparse_decode", f"latent ids must be in [0, "
                           f"{dictionary.shape[0]}), got [{int(ids.min())}, "
                           f"{int(ids.max())}]")
  return _sparse_decode(ids, values, dictionary)
