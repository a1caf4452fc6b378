"""Launcher for the prefix-attention kernels: padding, gathers, tiling.

`prefix_attention` accepts everything `ops.prefix_attention` accepts. It
gathers the new tokens' keys and values from slots `prefix_len + [0, T)` of
the cache (a few rows per sequence), folds "that slot exists" into the
query-to-query mask, pads T, the heads per kv head and the head dim to the
kernel's tiles, and launches `kernels.loop_kernel` (GPU) or
`kernels.grid_kernel` (TPU). The cache itself is passed through untouched
unless the head dim needs padding or the cache is smaller than one block.
"""

import dataclasses
import functools

import jax
from jax import lax
from jax import numpy as jnp
from jax.experimental import pallas as pl

from pallas_kernels import common
from pallas_kernels.prefix_attention import kernels
from pallas_kernels.prefix_attention.block_sizes import BlockSizes, padded_sizes

_DTYPES = (jnp.float32, jnp.bfloat16)


def compiler_params(backend: str, block_sizes: BlockSizes):
  """Explicit compiler parameters for the "gpu" or "tpu" kernel."""
  return common.compiler_params(
      backend, block_sizes, ("parallel", "parallel", "parallel", "arbitrary"))


def _merge_splits(partial, lse):
  """Combines per-split results: [P, *lead, D] and [P, *lead] -> [*lead, D].

  A split that saw no key has lse -inf and weight 0; a query that no split
  saw gets 0.
  """
  top = jnp.max(lse, axis=0)
  top = jnp.where(jnp.isfinite(top), top, 0.0)
  weight = jnp.exp(lse - top)
  total = jnp.sum(weight, axis=0)
  out = jnp.sum(weight[..., None] * partial, axis=0)
  return out / jnp.where(total > 0, total, 1.0)[..., None]


def _launch_gpu(q, k, v, lengths, new_k, new_v, mask, *, token_blocks,
                scale, block_sizes, interpret, cost):
  """q [B, Tp, Hkv, Rp, Dp] -> out of the same shape and dtype.

  Only the first `token_blocks` blocks of new tokens are computed (the rest
  is padding, left unwritten).
  """
  batch, num_new, num_kv, group, dim = q.shape
  num_slots = k.shape[1]
  block, splits = block_sizes.block_queries, block_sizes.num_splits
  q_spec = pl.BlockSpec((None, block, None, group, dim),
                        lambda b, g, i, s: (b, i, g, 0, 0))
  in_specs = [
      pl.BlockSpec((None,), lambda b, g, i, s: (b,)),
      q_spec,
      *[pl.BlockSpec((None, num_slots, None, dim),
                     lambda b, g, i, s: (b, 0, g, 0))] * 2,
      *[pl.BlockSpec((None, num_new, None, dim),
                     lambda b, g, i, s: (b, 0, g, 0))] * 2,
      pl.BlockSpec((None, block, num_new), lambda b, g, i, s: (b, i, 0)),
  ]
  if splits == 1:
    out_shape = (jax.ShapeDtypeStruct(q.shape, q.dtype),)
    out_specs = (q_spec,)
  else:
    out_shape = (jax.ShapeDtypeStruct((splits, *q.shape), jnp.float32),
                 jax.ShapeDtypeStruct((splits, *q.shape[:-1]), jnp.float32))
    out_specs = (
        pl.BlockSpec((None, None, block, None, group, dim),
                     lambda b, g, i, s: (s, b, i, g, 0, 0)),
        pl.BlockSpec((None, None, block, None, group),
                     lambda b, g, i, s: (s, b, i, g, 0)))
  kernel = functools.partial(
      kernels.loop_kernel, scale=scale, block_keys=block_sizes.block_keys,
      num_splits=splits, precision=common.dot_precision(q))
  outs = pl.pallas_call(
      kernel, out_shape=out_shape,
      grid=(batch, num_kv, token_blocks, splits),
      in_specs=in_specs, out_specs=out_specs,
      compiler_params=compiler_params("gpu", block_sizes),
      interpret=interpret, cost_estimate=cost,
      name="prefix_attention_loop",
  )(lengths, q, k, v, new_k, new_v, mask.astype(jnp.int8))
  if splits == 1:
    return outs[0]
  return _merge_splits(*outs).astype(q.dtype)


def _launch_tpu(q, k, v, lengths, new_k, new_v, mask, *, token_blocks,
                scale, block_sizes, interpret, cost):
  """q [B, Tp, Hkv, R, Dp] -> out of the same shape and dtype (as GPU)."""
  from jax.experimental.pallas import tpu as pltpu  # noqa: PLC0415

  batch, num_new, num_kv, group, dim = q.shape
  num_slots = k.shape[1]
  rows = block_sizes.block_queries * group
  block_keys = min(block_sizes.block_keys, num_slots)
  num_blocks = pl.cdiv(num_slots, block_keys)
  # Rows are (token, head) pairs of one kv head: [B, Hkv, Tp * R, Dp].
  q_rows = jnp.swapaxes(q, 1, 2).reshape(batch, num_kv, -1, dim)
  mask_rows = jnp.repeat(mask.astype(jnp.int32), group, axis=1)

  def cache_block(b, g, i, j, lengths):
    # Steps past the last visible block repeat it: no new fetch.
    # lax.div: lengths are >= 0, and Mosaic lowers `//` through sign().
    # jnp.int32: under jax_enable_x64 a Python int would be int64.
    last = jnp.maximum(
        lax.div(lengths[b] + block_keys - 1, jnp.int32(block_keys)) - 1, 0)
    return b, jnp.minimum(jnp.maximum(j - 1, 0), last), g

  row_spec = pl.BlockSpec((None, None, rows, dim),
                          lambda b, g, i, j, lengths: (b, g, i, 0))
  grid_spec = pltpu.PrefetchScalarGridSpec(
      num_scalar_prefetch=1,
      grid=(batch, num_kv, token_blocks, 1 + num_blocks),
      in_specs=[
          row_spec,
          *[pl.BlockSpec((None, block_keys, dim), cache_block)] * 2,
          *[pl.BlockSpec((None, num_new, dim),
                         lambda b, g, i, j, lengths: (b, 0, g))] * 2,
          pl.BlockSpec((None, rows, num_new),
                       lambda b, g, i, j, lengths: (b, i, 0)),
      ],
      out_specs=row_spec,
      scratch_shapes=[pltpu.VMEM((rows, 1), jnp.float32),
                      pltpu.VMEM((rows, 1), jnp.float32),
                      pltpu.VMEM((rows, dim), jnp.float32)])
  flat = lambda a: a.reshape(batch, a.shape[1], num_kv * dim)
  kernel = functools.partial(kernels.grid_kernel, scale=scale,
                             precision=common.dot_precision(q))
  out = pl.pallas_call(
      kernel, out_shape=jax.ShapeDtypeStruct(q_rows.shape, q.dtype),
      grid_spec=grid_spec,
      compiler_params=compiler_params("tpu", block_sizes),
      interpret=interpret, cost_estimate=cost,
      name="prefix_attention_grid",
  )(lengths, q_rows, flat(k), flat(v), flat(new_k), flat(new_v), mask_rows)
  return jnp.swapaxes(out.reshape(batch, num_kv, num_new, group, dim), 1, 2)


@functools.partial(
    jax.jit,
    static_argnames=("scale", "block_sizes", "backend", "interpret"))
def _prefix_attention(q, k, v, prefix_len, qq_mask, *, scale, block_sizes,
                      backend, interpret):
  batch, num_new, num_heads, head_dim = q.shape
  num_slots, num_kv = k.shape[1], k.shape[2]
  group = num_heads // num_kv
  new_pad, group_pad, dim = padded_sizes(num_new, group, head_dim, backend)
  if backend == "gpu":
    block_sizes = dataclasses.replace(
        block_sizes, block_queries=min(block_sizes.block_queries, new_pad))
    # The loop kernel's key blocks must fit in the cache.
    slots = max(num_slots, block_sizes.block_keys)
  else:
    new_pad = common.round_up(new_pad, block_sizes.block_queries)
    slots = num_slots
  k = common.pad_to(k, (batch, slots, num_kv, dim))
  v = common.pad_to(v, (batch, slots, num_kv, dim))

  # The new tokens' keys and values; a token whose slot lies outside the
  # cache is seen by nobody.
  prefix_len = prefix_len.astype(jnp.int32)
  position = jnp.arange(new_pad, dtype=jnp.int32)
  slot = prefix_len[:, None] + position  # [B, Tp]
  stored = (slot >= 0) & (slot < num_slots) & (position < num_new)
  mask = jnp.broadcast_to(qq_mask, (batch, num_new, num_new))
  mask = (common.pad_to(mask, (batch, new_pad, new_pad), False)
          & stored[:, None, :])
  index = jnp.clip(slot, 0, num_slots - 1)[:, :, None, None]
  # Rows that no query sees are zeroed: whatever the clipped gather read
  # there (stale slots, even nan) must not reach 0 * value.
  seen = jnp.any(mask, axis=1)  # [B, Tp]
  new_k, new_v = (
      jnp.where(seen[:, :, None, None],
                jnp.take_along_axis(a, index, axis=1), 0)  # [B, Tp, Hkv, Dp]
      for a in (k, v))
  lengths = jnp.clip(prefix_len, 0, num_slots)

  q = common.pad_to(q.reshape(batch, num_new, num_kv, group, head_dim),
           (batch, new_pad, num_kv, group_pad, dim))
  cost = pl.CostEstimate(
      flops=4 * batch * num_heads * num_new * (num_slots + num_new)
      * head_dim,
      transcendentals=batch * num_heads * num_new * (num_slots + num_new),
      bytes_accessed=2 * (k.size * k.dtype.itemsize + q.size
                          * q.dtype.itemsize))
  launch = _launch_gpu if backend == "gpu" else _launch_tpu
  # Blocks holding only padding tokens would stream the cache for nothing.
  token_blocks = pl.cdiv(num_new, block_sizes.block_queries)
  out = launch(q, k, v, lengths, new_k, new_v, mask,
               token_blocks=token_blocks, scale=scale,
               block_sizes=block_sizes, interpret=interpret, cost=cost)
  out = out[:, :num_new, :, :group, :head_dim]
  return out.reshape(batch, num_new, num_heads, head_dim)


def prefix_attention(q, k, v, prefix_len, qq_mask, *,
                     scale: float | None = None,
                     block_sizes: BlockSizes | None = None,
                     backend: str | None = None,
                     interpret: bool = False) -> jax.Array:
  """Attention of T new queries over a cache, with the Pallas kernel.

  Same semantics as `ops.prefix_attention` (whose validation the arguments
  are assumed to have passed): query i of row b sees cache slots
  `[0, prefix_len[b])` and slot `prefix_len[b] + j` iff `qq_mask[.., i, j]`;
  a query that sees nothing outputs 0. Products in the input dtype, softmax
  and accumulation in f32.

  Args:
    q: [B, T, H, D] float32 or bfloat16.
    k, v: [B, S, Hkv, D] the cache, same dtype, new tokens already written.
    prefix_len: [B] int.
    qq_mask: [T, T] or [B, T, T] bool.
    scale: logit scale, default 1/sqrt(D).
    block_sizes: tiling; `BlockSizes.default_for(...)` when None.
    backend: "gpu" or "tpu" builds that backend's kernel and compiler
      parameters regardless of the default device (for export and interpret
      tests); "cpu" or None with interpret=True runs the GPU kernel body.
      Defaults to `jax.default_backend()`.
    interpret: run the kernel in Pallas interpret mode (any platform).

  Returns:
    [B, T, H, D] in q's dtype.

  Raises:
    NotImplementedError: dtypes the kernel does not take, or no compiled
      kernel for the platform (callers fall back to XLA).
  """
  if q.dtype not in _DTYPES or k.dtype != q.dtype or v.dtype != q.dtype:
    raise NotImplementedError(
        "prefix_attention: the kernel takes q, k and v all float32 or all "
        f"bfloat16, got {q.dtype}, {k.dtype} and {v.dtype}")
  kind = common.kernel_backend("prefix_attention", backend, interpret)
  batch, num_new, num_heads, head_dim = q.shape
  if block_sizes is None:
    block_sizes = BlockSizes.default_for(
        batch=batch, num_new=num_new, num_heads=num_heads,
        num_kv_heads=k.shape[2], head_dim=head_dim, num_slots=k.shape[1],
        itemsize=q.dtype.itemsize, backend=kind)
  else:
    block_sizes.validate(kind)
  if q.size == 0:
    return jnp.zeros(q.shape, q.dtype)
  return _prefix_attention(
      q, k, v, jnp.asarray(prefix_len), jnp.asarray(qq_mask),
      scale=float(head_dim ** -0.5 if scale is None else scale),
      block_sizes=block_sizes, backend=kind, interpret=interpret)
