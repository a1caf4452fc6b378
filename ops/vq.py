"""Nearest-codeword search: the op every quantizer in the zoo shares.

`vq_nearest` returns, for each vector, the k best codes of a codebook under
squared L2 distance, inner product or cosine similarity. One call covers a
plain codebook ([K, d]) and many independent codebooks at once ([G, K, d],
with one group axis in x), a mask of disabled codes, and bf16 or f32 inputs.

Every implementation ranks codes by the same f32 quantity, the best-first
`x . c + bias[c]` with products in the input dtype and f32 accumulation:
  l2:  bias = -|c|^2 / 2   (so the distance is |x|^2 - 2 * value)
  ip:  bias = 0
  cos: the codebook is L2-normalised first, and the value is divided by |x|.
Ties go to the lowest code index; slots beyond the number of enabled codes
get index -1 and score +inf (l2) or -inf (ip, cos).

NaN, the same in every implementation: a NaN score (from a NaN in x or in a
code) ranks as the lowest finite float32, -3.4e38, and so does the score of
an enabled code that is -inf or whose squared norm overflows (non-finite or
huge inputs only). Such a score never beats a real one (short of a real
score of exactly -3.4e38, which it ties), always beats a disabled code, and
is reported as NaN. So a code holding NaN is chosen only when fewer than k
enabled codes score otherwise; a row of x holding NaN gets its group's
lowest-indexed enabled codes, all with NaN scores. Indices are always in
[0, K), or -1 for the slots past the enabled codes.
"""

import functools
import math
from typing import Literal

import jax
import numpy as np
from jax import numpy as jnp

from ops import _dispatch
from ops._sharding import shard_batch

Metric = Literal["l2", "ip", "cos"]
METRICS = ("l2", "ip", "cos")
_COS_EPS = 1e-12
# Rows per chunk of the XLA path: chunk * K score entries stay under this.
_XLA_CHUNK_ELEMENTS = 1 << 24
# The rank of a NaN score, the lowest finite float32; the Pallas kernels
# (pallas_kernels.vq.kernels.NAN_RANK) use the same value.
_NAN_RANK = float(np.finfo(np.float32).min)


def _validate(x, codebook, k, metric, code_mask):
  """Checks arguments; returns the number of groups (None for [K, d])."""
  if metric not in METRICS:
    raise ValueError(f"vq_nearest: metric must be one of {METRICS}, got "
                     f"{metric!r}")
  if codebook.ndim not in (2, 3):
    raise ValueError("vq_nearest: codebook must be [K, d] or [G, K, d], got "
                     f"shape {codebook.shape}")
  for name, a in (("x", x), ("codebook", codebook)):
    if a.dtype not in (jnp.float32, jnp.bfloat16):
      raise ValueError(f"vq_nearest: {name} must be float32 or bfloat16, got "
                       f"{a.dtype}")
  if x.dtype != codebook.dtype:
    raise ValueError(f"vq_nearest: x and codebook dtypes differ ({x.dtype} vs "
                     f"{codebook.dtype})")
  grouped = codebook.ndim == 3
  need = 2 if grouped else 1
  if x.ndim < need or x.shape[-1] != codebook.shape[-1] or (
      grouped and x.shape[-2] != codebook.shape[0]):
    want = "[..., G, d]" if grouped else "[..., d]"
    raise ValueError(f"vq_nearest: x must be {want} matching codebook "
                     f"{codebook.shape}, got {x.shape}")
  num_codes = codebook.shape[-2]
  if num_codes == 0:
    raise ValueError("vq_nearest: the codebook is empty: it needs at least "
                     f"one code, got shape {codebook.shape}")
  if not isinstance(k, int) or not 1 <= k <= num_codes:
    raise ValueError(f"vq_nearest: k must be an int in [1, {num_codes}], got "
                     f"{k!r}")
  if code_mask is not None:
    if code_mask.shape != codebook.shape[:-1] or code_mask.dtype != jnp.bool_:
      raise ValueError("vq_nearest: code_mask must be bool with shape "
                       f"{codebook.shape[:-1]}, got {code_mask.dtype} "
                       f"{code_mask.shape}")
  return codebook.shape[0] if grouped else None


def _as_groups(x, codebook, code_mask, groups):
  """x [N, G, d], codebook [G, K, d] and mask [G, K] or None, G = 1 for a
  plain codebook (explicit sizes: any of them may be 0)."""
  batch_shape = x.shape[:-1] if groups is None else x.shape[:-2]
  g = 1 if groups is None else groups
  x3 = x.reshape(math.prod(batch_shape), g, x.shape[-1])
  if groups is None:
    codebook = codebook[None]
    code_mask = None if code_mask is None else code_mask[None]
  return x3, codebook, code_mask


def code_bias(codebook, metric: Metric, code_mask=None):
  """Per-code f32 offset added to x . c; -inf marks disabled codes.

  Args:
    codebook: [G, K, d] (already normalised for "cos").
    metric: "l2", "ip" or "cos".
    code_mask: optional [G, K] bool, True = enabled.

  Returns:
    [G, K] float32.
  """
  if metric == "l2":
    c = codebook.astype(jnp.float32)
    bias = -0.5 * jnp.sum(c * c, axis=-1)
    # -inf marks a disabled code; an enabled one whose norm overflows has
    # no finite score (NaN, ranked below every real score).
    bias = jnp.where(bias == -jnp.inf, jnp.nan, bias)
  else:
    bias = jnp.zeros(codebook.shape[:-1], jnp.float32)
  if code_mask is not None:
    bias = jnp.where(code_mask, bias, -jnp.inf)
  return bias


def _normalize(v):
  v32 = v.astype(jnp.float32)
  norm = jnp.sqrt(jnp.sum(v32 * v32, axis=-1, keepdims=True))
  return (v32 / jnp.maximum(norm, _COS_EPS)).astype(v.dtype)


def _ranked(scores, bias):
  """Scores as ranked: NaN (or -inf of an enabled code) becomes _NAN_RANK.

  A disabled code (bias -inf) stays -inf.
  """
  floor = jnp.where(bias == -jnp.inf, -jnp.inf, _NAN_RANK)
  return jnp.where(scores >= _NAN_RANK, scores, floor)


def nearest_codes_reference(x, codebook, bias, *, k: int):
  """Top-k of x . c + bias per row, chunked over rows.

  NaN scores are ranked, and returned, as _NAN_RANK (see the module
  docstring).

  Args:
    x: [N, G, d].
    codebook: [G, K, d], same dtype as x.
    bias: [G, K] float32.
    k: number of codes to return.

  Returns:
    (values [N, G, k] float32, indices [N, G, k] int32), best first.
  """
  n, g, d = x.shape
  chunk = int(max(1, min(n, _XLA_CHUNK_ELEMENTS // codebook.shape[1])))

  def one_chunk(xc):  # [chunk, G, d]
    s = jnp.einsum("ngd,gkd->ngk", xc, codebook,
                   preferred_element_type=jnp.float32)
    return jax.lax.top_k(_ranked(s + bias[None], bias[None]), k)

  if chunk >= n:
    return one_chunk(x)
  pad = -n % chunk
  xp = jnp.pad(x, ((0, pad), (0, 0), (0, 0))).reshape(-1, chunk, g, d)
  values, indices = jax.lax.map(one_chunk, xp)
  return (values.reshape(-1, g, k)[:n], indices.reshape(-1, g, k)[:n])


def _nearest_codes_pallas(x, codebook, bias, *, k: int, interpret: bool):
  # Imported here: pallas_kernels must not load at `import ops`.
  from pallas_kernels import vq as vq_kernels  # noqa: PLC0415

  return vq_kernels.nearest_codes(x, codebook, bias, k=k, interpret=interpret)


def _nearest_codes(x, codebook, bias, *, k, implementation):
  """Dispatches the row-wise top-k to an implementation (no gradients)."""
  def kernel(interpret):
    return lambda: shard_batch(
        functools.partial(_nearest_codes_pallas, k=k, interpret=interpret),
        (x, codebook, bias), in_axes=(0, None, None), out_axes=0)

  impls = {
      "xla": lambda: nearest_codes_reference(x, codebook, bias, k=k),
      "pallas": kernel(interpret=False),
      "interpret": kernel(interpret=True),
  }
  return _dispatch.call("vq_nearest", impls, implementation)


def _scores(x, codes, metric):
  """Score of each x against its selected codes, differentiably.

  Args:
    x: [N, G, d]; codes: [N, G, k, d] (normalised for "cos").

  Returns:
    [N, G, k] float32 in the op's convention (distance for l2).
  """
  dots = jnp.einsum("ngd,ngkd->ngk", x, codes,
                    preferred_element_type=jnp.float32)
  if metric == "ip":
    return dots
  x32 = x.astype(jnp.float32)
  x_sq = jnp.sum(x32 * x32, axis=-1, keepdims=True)
  if metric == "cos":
    return dots / jnp.maximum(jnp.sqrt(x_sq), _COS_EPS)
  c32 = codes.astype(jnp.float32)
  return jnp.maximum(x_sq - 2.0 * dots + jnp.sum(c32 * c32, axis=-1), 0.0)


@functools.partial(jax.custom_vjp, nondiff_argnums=(3, 4, 5))
def _vq_nearest_core(x, codebook, code_mask, k, metric, implementation):
  indices, scores = _vq_nearest_fwd(
      x, codebook, code_mask, k, metric, implementation)[0]
  return indices, scores


def _vq_nearest_fwd(x, codebook, code_mask, k, metric, implementation):
  cb = _normalize(codebook) if metric == "cos" else codebook
  bias = code_bias(cb, metric, code_mask)
  values, indices = _nearest_codes(
      x, cb, bias, k=k, implementation=implementation)
  empty = jnp.isneginf(values)
  indices = jnp.where(empty, -1, indices)
  x32 = x.astype(jnp.float32)
  if metric == "l2":
    x_sq = jnp.sum(x32 * x32, axis=-1, keepdims=True)
    scores = jnp.where(empty, jnp.inf, jnp.maximum(x_sq - 2.0 * values, 0.0))
  elif metric == "cos":
    norm = jnp.sqrt(jnp.sum(x32 * x32, axis=-1, keepdims=True))
    scores = values / jnp.maximum(norm, _COS_EPS)
  else:
    scores = values
  scores = jnp.where(values == _NAN_RANK, jnp.nan, scores)
  return (indices, scores), (x, codebook, code_mask, indices)


def _vq_nearest_bwd(k, metric, implementation, residuals, cotangents):
  """Gradients of the scores through the selected codes only.

  Indices are piecewise constant, so only the scores carry gradient; they
  depend on x and on the k selected codes, which is a gather, not N x K.
  """
  del k, implementation
  x, codebook, code_mask, indices = residuals
  _, g_scores = cotangents
  valid = indices >= 0
  g_scores = jnp.where(valid, g_scores, 0.0)

  def scores_of(x_, codebook_):
    cb = _normalize(codebook_) if metric == "cos" else codebook_
    group = jnp.arange(cb.shape[0])[None, :, None]
    codes = cb[group, jnp.maximum(indices, 0)]  # [N, G, k, d]
    return jnp.where(valid, _scores(x_, codes, metric), 0.0)

  _, vjp = jax.vjp(scores_of, x, codebook)
  g_x, g_codebook = vjp(g_scores)
  g_mask = None if code_mask is None else np.zeros(code_mask.shape,
                                                   jax.dtypes.float0)
  return g_x, g_codebook, g_mask


_vq_nearest_core.defvjp(_vq_nearest_fwd, _vq_nearest_bwd)


def vq_nearest(
    x: jax.Array,
    codebook: jax.Array,
    *,
    k: int = 1,
    metric: Metric = "l2",
    code_mask: jax.Array | None = None,
    implementation: str | None = None,
) -> tuple[jax.Array, jax.Array]:
  """The k nearest codes of each vector, without an N x K distance matrix.

  Args:
    x: [..., d] for a plain codebook, or [..., G, d] for G codebooks.
    codebook: [K, d], or [G, K, d] for G independent codebooks.
    k: number of codes per vector, best first.
    metric: "l2" (squared distance, smaller is better), "ip" or "cos"
      (similarity, larger is better).
    code_mask: optional bool [K] or [G, K]; False disables a code.
    implementation: "xla", "pallas", "interpret" or None (per backend;
      ZOO_IMPL overrides).

  Returns:
    (indices int32 [..., k] or [..., G, k], scores float32 of the same shape).
    Scores are differentiable with respect to x and codebook. A NaN score
    never beats a real one (see the module docstring): indices are in
    [0, K), or -1 past the enabled codes.
  """
  groups = _validate(x, codebook, k, metric, code_mask)
  x3, cb3, mask = _as_groups(x, codebook, code_mask, groups)
  indices, scores = _vq_nearest_core(x3, cb3, mask, k, metric, implementation)
  out_shape = x.shape[:-1] + (k,)
  return indices.reshape(out_shape), scores.reshape(out_shape)


def vq_nearest_reference(x, codebook, *, k=1, metric="l2", code_mask=None):
  """Ground truth for `vq_nearest`: the whole score matrix, plain autodiff.

  Same arguments and results as `vq_nearest`; materialises [..., K] scores,
  so use it for tests and small inputs only.
  """
  groups = _validate(x, codebook, k, metric, code_mask)
  x3, cb, mask = _as_groups(x, codebook, code_mask, groups)
  cb = _normalize(cb) if metric == "cos" else cb
  bias = code_bias(cb, metric, mask)[None]
  values, indices = jax.lax.top_k(_ranked(
      jnp.einsum("ngd,gkd->ngk", x3, cb, preferred_element_type=jnp.float32)
      + bias, bias), k)
  empty = jnp.isneginf(values)
  group = jnp.arange(cb.shape[0])[None, :, None]
  scores = _scores(x3, cb[group, indices], metric)
  scores = jnp.where(empty, jnp.inf if metric == "l2" else -jnp.inf, scores)
  scores = jnp.where(values == _NAN_RANK, jnp.nan, scores)
  out_shape = x.shape[:-1] + (k,)
  return (jnp.where(empty, -1, indices).reshape(out_shape),
          scores.reshape(out_shape))


def straight_through(x: jax.Array, quantized: jax.Array) -> jax.Array:
  """Forward value `quantized`, gradient of the identity with respect to x."""
  return x + jax.lax.stop_gradient(quantized - x)
