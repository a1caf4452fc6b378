"""Prefix attention: a few new queries against a cached prefix.

    out = prefix_attention(q, k, v, prefix_len, qq_mask)

Query i of row b sees every key in `[0, prefix_len[b])` (the cached prefix)
and the key at slot `prefix_len[b] + j` iff `qq_mask[b, i, j]` (the new
tokens, written into the cache by the caller before the call). Slots at or
after `prefix_len[b] + T` are never seen. One mask covers every decoding
pattern: a causal chain (speculative verification, look-ahead decoding), a
draft tree (ancestor mask), a full block (diffusion LMs over a cached
prefix), and, with `prefix_len = 0` and `T = S`, plain causal or
bidirectional self-attention for training.

A query that sees no key at all gets a zero output (and zero gradient).
Cache slots that no query of a row sees (stale or unwritten ones, past
`prefix_len + T` or masked for every query) take no part, whatever they
hold: NaN there reaches neither the output nor the gradients.
Grouped-query attention: `H` query heads share `Hkv` key/value heads,
`H % Hkv == 0`, head h reading kv head `h // (H // Hkv)`.

The Pallas kernels ("pallas", "interpret") read only the cache blocks below
each row's `prefix_len + T`, so a large cache capacity costs nothing. Their
gradient is the reference's (recomputed in the backward pass), so training
through the op works with every implementation.
"""

import functools

import jax
import numpy as np
from jax import numpy as jnp

from ops import _dispatch
from ops._sharding import shard_batch


def causal_mask(length: int) -> jax.Array:
  """[length, length] bool: query i sees new tokens 0..i."""
  return jnp.tril(jnp.ones((length, length), jnp.bool_))


def sliding_window_mask(length: int, window: int, causal: bool = True
                        ) -> jax.Array:
  """[length, length] bool for sliding-window attention.

  Causal: query i sees keys j in (i - window, i], `window` keys with itself.
  Bidirectional: |i - j| <= window // 2. A window of at least the length is
  full (causal or bidirectional) attention.
  """
  if window < 1:
    raise ValueError(f"sliding_window_mask: window must be >= 1, got "
                     f"{window}")
  i = jnp.arange(length)[:, None]
  j = jnp.arange(length)[None, :]
  if causal:
    return (j <= i) & (j > i - window)
  return jnp.abs(i - j) <= window // 2


def windowed_attention(q, k, v, q_positions, k_positions, window: int, *,
                       scale=None):
  """Dense sliding-window attention by positions, f32 inside.

  Query i sees key j iff q_pos_i - window < k_pos_j <= q_pos_i; a key at a
  negative position is an empty slot and never seen. With every position
  distinct this is `sliding_window_mask(causal=True)` over the keys, in any
  slot order (a rolling cache keeps its slots out of order).

  Args:
    q: [B, T, H, D]; k, v: [B, S, Hkv, D] (Hkv divides H).
    q_positions: [B, T] int; k_positions: [B, S] int.
    window: keys per query, itself included.

  Returns:
    [B, T, H, D] in q's dtype; a query that sees no key gets zeros.
  """
  qp, kp = q_positions[:, :, None], k_positions[:, None, :]
  visible = (kp <= qp) & (kp > qp - window) & (kp >= 0)  # [B, T, S]
  return masked_attention(q, k, v, visible, scale=scale)


def _validate(q, k, v, prefix_len, qq_mask):
  if q.ndim != 4:
    raise ValueError(f"prefix_attention: q must be [B, T, H, D], got shape "
                     f"{q.shape}")
  for name, a in (("k", k), ("v", v)):
    if a.ndim != 4 or a.shape[0] != q.shape[0] or a.shape[3] != q.shape[3]:
      raise ValueError(f"prefix_attention: {name} must be [B, S, Hkv, D] "
                       f"matching q {q.shape}, got {a.shape}")
  if k.shape != v.shape:
    raise ValueError(f"prefix_attention: k {k.shape} and v {v.shape} differ")
  if k.shape[2] == 0:
    raise ValueError(f"prefix_attention: k and v need at least one kv head, "
                     f"got shape {k.shape}")
  if q.shape[2] % k.shape[2]:
    raise ValueError(f"prefix_attention: {q.shape[2]} query heads are not a "
                     f"multiple of {k.shape[2]} kv heads")
  if k.shape[1] < q.shape[1]:
    raise ValueError(f"prefix_attention: the cache holds {k.shape[1]} slots, "
                     f"fewer than the {q.shape[1]} new tokens")
  if prefix_len.shape != (q.shape[0],) or not jnp.issubdtype(
      prefix_len.dtype, jnp.integer):
    raise ValueError(f"prefix_attention: prefix_len must be int "
                     f"[B={q.shape[0]}], got {prefix_len.dtype}"
                     f"{list(prefix_len.shape)}")
  t = q.shape[1]
  if qq_mask.dtype != jnp.bool_ or qq_mask.shape[-2:] != (t, t) or (
      qq_mask.ndim == 3 and qq_mask.shape[0] != q.shape[0]) or (
          qq_mask.ndim not in (2, 3)):
    raise ValueError(f"prefix_attention: qq_mask must be bool [T, T] or "
                     f"[B, T, T] with T={t}, got {qq_mask.dtype}"
                     f"{list(qq_mask.shape)}")


def write_rows(cache, new, start):
  """Writes new [B, T, ...] into cache [B, S, ...] at per-row offsets [B]
  (in the cache's dtype)."""
  def one(c, n, s):
    return jax.lax.dynamic_update_slice_in_dim(c, n.astype(c.dtype), s, 0)
  return jax.vmap(one)(cache, new, start)


def key_mask(prefix_len, qq_mask, num_slots: int) -> jax.Array:
  """[B, T, S] bool: which cache slots each new query sees."""
  t = qq_mask.shape[-1]
  qq_mask = jnp.broadcast_to(qq_mask, (prefix_len.shape[0], t, t))
  slot = jnp.arange(num_slots)
  rel = slot[None, :] - prefix_len[:, None]  # [B, S] offset into new tokens
  in_prefix = rel < 0
  new = jnp.take_along_axis(
      qq_mask, jnp.clip(rel, 0, t - 1)[:, None, :].repeat(t, 1), axis=2)
  return in_prefix[:, None, :] | (new & (rel < t)[:, None, :] & ~in_prefix[
      :, None, :])


def prefix_attention_reference(q, k, v, prefix_len, qq_mask, *, scale=None):
  """Dense jnp attention in f32; see the module docstring.

  Args:
    q: [B, T, H, D] new queries.
    k, v: [B, S, Hkv, D] the cache, new tokens at `prefix_len + [0, T)`.
    prefix_len: [B] int, cached tokens before the new ones.
    qq_mask: [T, T] or [B, T, T] bool, query i sees new token j.
    scale: logit scale, default 1/sqrt(D).

  Returns:
    [B, T, H, D] in q's dtype.
  """
  if q.size == 0:  # no query, or D = 0: nothing to attend with
    return jnp.zeros(q.shape, q.dtype)
  visible = key_mask(prefix_len, qq_mask, k.shape[1])  # [B, T, S]
  return masked_attention(q, k, v, visible, scale=scale)


def masked_attention(q, k, v, visible, *, scale=None):
  """Dense grouped-query attention under a key mask, f32 inside.

  Args:
    q: [B, T, H, D]; k, v: [B, S, Hkv, D] (Hkv divides H).
    visible: [B, T, S] bool, query t sees slot s.
    scale: logit scale, default 1/sqrt(D).

  Returns:
    [B, T, H, D] in q's dtype; a query that sees no key gets zeros (and
    zero gradient).
  """
  b, t, h, d = q.shape
  hkv = k.shape[2]
  scale = d ** -0.5 if scale is None else scale
  # Slots no query sees are zeroed: they may hold nan, and 0 * nan is nan.
  seen = jnp.any(visible, axis=1)[:, :, None, None]  # [B, S, 1, 1]
  k, v = jnp.where(seen, k, 0), jnp.where(seen, v, 0)
  qg = q.astype(jnp.float32).reshape(b, t, hkv, h // hkv, d)
  logits = jnp.einsum("btgrd,bsgd->bgrts", qg, k.astype(jnp.float32)) * scale
  mask = visible[:, None, None]
  logits = jnp.where(mask, logits, -jnp.inf)
  peak = jnp.max(logits, axis=-1, keepdims=True)
  peak = jnp.where(jnp.isfinite(peak), peak, 0.0)
  weights = jnp.where(mask, jnp.exp(logits - peak), 0.0)
  denom = jnp.sum(weights, axis=-1, keepdims=True)
  probs = weights / jnp.where(denom > 0, denom, 1.0)
  out = jnp.einsum("bgrts,bsgd->btgrd", probs, v.astype(jnp.float32))
  return out.reshape(b, t, h, d).astype(q.dtype)


def _kernel_forward(q, k, v, prefix_len, qq_mask, scale, interpret):
  """The Pallas kernel, split over the mesh's batch axes."""
  backend = jax.default_backend()
  if not interpret and backend not in ("gpu", "tpu"):
    raise NotImplementedError(
        f"the 'pallas' kernel runs on GPU or TPU, not {backend!r}; use "
        "'interpret' on CPU")
  # Imported here: pallas_kernels must not load at `import ops`.
  from pallas_kernels import prefix_attention as kernels  # noqa: PLC0415

  kernel = functools.partial(kernels.prefix_attention, scale=scale,
                             interpret=interpret)
  return shard_batch(kernel, (q, k, v, prefix_len, qq_mask),
                     in_axes=(0, 0, 0, 0, 0 if qq_mask.ndim == 3 else None),
                     out_axes=0)


@functools.partial(jax.custom_vjp, nondiff_argnums=(5, 6))
def _kernel_attention(q, k, v, prefix_len, qq_mask, scale, interpret):
  return _kernel_forward(q, k, v, prefix_len, qq_mask, scale, interpret)


def _kernel_attention_fwd(q, k, v, prefix_len, qq_mask, scale, interpret):
  out = _kernel_forward(q, k, v, prefix_len, qq_mask, scale, interpret)
  return out, (q, k, v, prefix_len, qq_mask)


def _kernel_attention_bwd(scale, interpret, residuals, g):
  del interpret
  q, k, v, prefix_len, qq_mask = residuals
  _, vjp = jax.vjp(lambda q, k, v: prefix_attention_reference(
      q, k, v, prefix_len, qq_mask, scale=scale), q, k, v)
  return (*vjp(g), np.zeros(prefix_len.shape, jax.dtypes.float0),
          np.zeros(qq_mask.shape, jax.dtypes.float0))


_kernel_attention.defvjp(_kernel_attention_fwd, _kernel_attention_bwd)


def prefix_attention(q, k, v, prefix_len, qq_mask, *, scale=None,
                     implementation=None):
  """Attention of T new queries over a cache; see the module docstring.

  Args:
    q: [B, T, H, D] queries (float32 or bfloat16).
    k, v: [B, S, Hkv, D] keys and values, the new tokens' already written at
      slots `prefix_len + [0, T)`.
    prefix_len: [B] int32, number of cached tokens seen by every query.
    qq_mask: [T, T] or [B, T, T] bool, query i sees new token j.
    scale: logit scale (a Python float), default 1/sqrt(D).
    implementation: "xla", "pallas", "interpret" or None (per backend;
      ZOO_IMPL overrides); see `ops._dispatch`.

  Returns:
    [B, T, H, D] in q's dtype.
  """
  prefix_len = jnp.asarray(prefix_len)
  qq_mask = jnp.asarray(qq_mask)
  _validate(q, k, v, prefix_len, qq_mask)
  kernel = lambda interpret: lambda: _kernel_attention(
      q, k, v, prefix_len, qq_mask, scale, interpret)
  return _dispatch.call("prefix_attention", {
      "xla": lambda: prefix_attention_reference(
          q, k, v, prefix_len, qq_mask, scale=scale),
      "pallas": kernel(False),
      "interpret": kernel(True),
  }, implementation)
