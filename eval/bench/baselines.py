"""What people run today for MaxSim, nearest-codeword search, masked
attention over a KV cache and vocabulary reductions.

XLA baselines are chunked jnp (the unchunked forms run out of memory at the
benchmark shapes); PyTorch baselines are the chunked einsum / matmul loops of
ColBERT- and VQ-style code, `scaled_dot_product_attention` and the usual
logsumexp / argmax / topk calls. Torch is optional and imported lazily.
"""

import functools

import jax
from jax import numpy as jnp


def _chunks(n: int, chunk: int) -> int:
  if n % chunk:
    raise ValueError(f"{n} is not a multiple of the chunk size {chunk}")
  return n // chunk


@functools.partial(jax.jit, static_argnames=("chunk",))
def xla_maxsim(q, d, d_mask=None, chunk: int = 2048):
  """q [B, Lq, D], d [N, Ld, D] (optional d_mask [N, Ld]) -> [B, N]."""
  n = d.shape[0]
  chunk = min(chunk, n)
  blocks = d.reshape(_chunks(n, chunk), chunk, *d.shape[1:])
  masks = (jnp.ones(blocks.shape[:3], bool) if d_mask is None
           else d_mask.reshape(blocks.shape[:3]))

  def one(args):
    db, mb = args
    s = jnp.einsum("bqd,nkd->bnqk", q, db, preferred_element_type=jnp.float32)
    s = jnp.where(mb[None, :, None, :], s, -jnp.inf)
    return s.max(-1).sum(-1)  # [B, chunk]

  out = jax.lax.map(one, (blocks, masks))  # [N / chunk, B, chunk]
  return out.transpose(1, 0, 2).reshape(q.shape[0], n)


@functools.partial(jax.jit, static_argnames=("k", "metric", "chunk"))
def xla_nearest(x, codebook, k: int = 1, metric: str = "l2",
                chunk: int = 65536):
  """argmin over codes in row chunks; x [N, d] or [N, G, d]."""
  grouped = codebook.ndim == 3
  x3 = x if grouped else x[:, None]
  cb = codebook if grouped else codebook[None]
  n = x3.shape[0]
  chunk = min(chunk, n)
  c32 = cb.astype(jnp.float32)
  bias = -0.5 * jnp.sum(c32 * c32, -1) if metric == "l2" else 0.0

  def one(xb):
    s = jnp.einsum("ngd,gkd->ngk", xb, cb,
                   preferred_element_type=jnp.float32) + bias
    if k == 1:
      return jnp.argmax(s, axis=-1)[..., None]
    return jax.lax.top_k(s, k)[1]

  out = jax.lax.map(one, x3.reshape(_chunks(n, chunk), chunk, *x3.shape[1:]))
  out = out.reshape(n, cb.shape[0], k)
  return out if grouped else out[:, 0]


def torch_version() -> str | None:
  try:
    import torch  # noqa: PLC0415
  except ImportError:
    return None
  return torch.__version__


def torch_cuda_available() -> bool:
  try:
    import torch  # noqa: PLC0415
  except ImportError:
    return False
  return torch.cuda.is_available()


def to_torch(arg_sets, float32: bool = False):
  """The same device buffers as torch tensors (dlpack, no copy)."""
  import torch  # noqa: PLC0415

  def convert(a):
    if a is None:
      return None
    if a.dtype == jnp.bool_:  # DLPack support for bool varies by version
      return torch.from_dlpack(a.astype(jnp.uint8)).bool()
    t = torch.from_dlpack(a)
    return t.float() if float32 else t

  return [tuple(convert(a) for a in args) for args in arg_sets]


def _synced(fn):
  """fn, then a CUDA synchronize when a result lives on the GPU (timing)."""
  @functools.wraps(fn)
  def wrapper(*args, **kwargs):
    import torch  # noqa: PLC0415

    out = fn(*args, **kwargs)
    if any(t.is_cuda for t in jax.tree.leaves(out)):
      torch.cuda.synchronize()
    return out
  return wrapper


@_synced
def torch_maxsim(q, d, d_mask=None, chunk: int = 2048):
  import torch  # noqa: PLC0415

  out = torch.empty(q.shape[0], d.shape[0], device=q.device,
                    dtype=torch.float32)
  with torch.no_grad():
    for start in range(0, d.shape[0], chunk):
      sim = torch.einsum("bqd,nkd->bnqk", q, d[start:start + chunk])
      if d_mask is not None:
        sim = sim.masked_fill(~d_mask[None, start:start + chunk, None, :],
                              float("-inf"))
      out[:, start:start + chunk] = sim.amax(-1).float().sum(-1)
  return out


@_synced
def torch_nearest(x, codebook, tf32: bool = False, chunk: int = 65536):
  import torch  # noqa: PLC0415

  torch.backends.cuda.matmul.allow_tf32 = tf32
  c_sq = (codebook.float() ** 2).sum(-1)
  out = torch.empty(x.shape[0], dtype=torch.int64, device=x.device)
  with torch.no_grad():
    for start in range(0, x.shape[0], chunk):
      dots = (x[start:start + chunk] @ codebook.T).float()
      out[start:start + chunk] = (c_sq - 2 * dots).argmin(-1)
  return out


@jax.jit
def xla_masked_attention(q, k, v, mask):
  """Dense masked attention: einsum + where + softmax + einsum.

  Args:
    q: [B, T, H, D]; k, v: [B, S, H, D]; mask: [B, T, S] bool.

  Returns:
    [B, T, H, D] in q's dtype.
  """
  logits = jnp.einsum("bthd,bshd->bhts", q, k,
                      preferred_element_type=jnp.float32)
  logits = jnp.where(mask[:, None], logits * q.shape[-1] ** -0.5, -jnp.inf)
  probs = jax.nn.softmax(logits, axis=-1).astype(v.dtype)
  return jnp.einsum("bhts,bshd->bthd", probs, v)


@jax.jit
def jax_nn_attention(q, k, v, mask):
  """`jax.nn.dot_product_attention` with a boolean mask [B, T, S]."""
  return jax.nn.dot_product_attention(q, k, v, mask=mask[:, None])


@functools.partial(jax.jit, static_argnames=("k", "approx"))
def xla_vocab_stats(logits, k: int, approx: bool = False):
  """logsumexp, argmax and top-k of logits [N, V] in f32."""
  x = logits.astype(jnp.float32)
  top = (jax.lax.approx_max_k(x, k) if approx else jax.lax.top_k(x, k))
  return jax.nn.logsumexp(x, axis=-1), jnp.argmax(x, axis=-1), top


@_synced
def torch_sdpa(q, k, v, mask):
  """`scaled_dot_product_attention` with a boolean mask; q [B, T, H, D],
  k, v [B, S, H, D], mask [B, T, S]."""
  import torch  # noqa: PLC0415

  with torch.no_grad():
    out = torch.nn.functional.scaled_dot_product_attention(
        q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2),
        attn_mask=mask[:, None])
  return out.transpose(1, 2)


@_synced
def torch_naive_attention(q, k, v, mask):
  """matmul, masked_fill, softmax, matmul; shapes as `torch_sdpa`."""
  import torch  # noqa: PLC0415

  with torch.no_grad():
    q, k, v = (a.transpose(1, 2) for a in (q, k, v))
    logits = (q @ k.transpose(-1, -2)) * q.shape[-1] ** -0.5
    logits = logits.masked_fill(~mask[:, None], float("-inf"))
    return (torch.softmax(logits, dim=-1) @ v).transpose(1, 2)


@_synced
def torch_vocab_stats(logits, k: int):
  """logsumexp, argmax and topk of logits [N, V] in their dtype."""
  import torch  # noqa: PLC0415

  with torch.no_grad():
    return (torch.logsumexp(logits, dim=-1), torch.argmax(logits, dim=-1),
            *torch.topk(logits, k, dim=-1))
