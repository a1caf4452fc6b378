"""Steering with SAE latents: find the latents of a concept, subtract them.

    ids = find_latents(f_pos, f_neg, k=3)          # codes of both sets
    edit = lambda x: steer(x, params, config, ids, alpha=2.0,
                           mode="conditional")
    with hooks.intervene({"block_0/resid_post": edit}):
      out = generate(lm, prompt, 16, ...)

`steer` moves x along the latents' unit decoder rows d_i:
x <- x - alpha sum_i s_i(x) d_i, with s_i = 1 ("add", a constant shift) or
s_i = f_i(x) where the latent fires above tau and 0 elsewhere
("conditional", which leaves positions without the concept untouched);
"clamp" is conditional at alpha 1, which sets the latents' pre-activations
to about 0 when the dictionary is near-orthogonal.
"""

import jax
import numpy as np
from jax import numpy as jnp

from zoo.interp.sae import SAE, SAEConfig, unit_rows

MODES = ("add", "conditional", "clamp")


def find_latents(f_pos: jax.Array, f_neg: jax.Array, k: int) -> jax.Array:
  """The k latents whose mean activation gains most from f_neg [M, W] to
  f_pos [N, W]; returns [k] int32 ids, largest gap first."""
  if f_pos.ndim != 2 or f_neg.ndim != 2 or f_pos.shape[1] != f_neg.shape[1]:
    raise ValueError(f"find_latents: codes must be [N, W] and [M, W] with "
                     f"one W, got {f_pos.shape} and {f_neg.shape}")
  if not isinstance(k, int) or not 1 <= k <= f_pos.shape[1]:
    raise ValueError(f"find_latents: k must be an int in [1, "
                     f"{f_pos.shape[1]}], got {k!r}")
  gap = f_pos.mean(0) - f_neg.mean(0)
  return jax.lax.top_k(gap, k)[1].astype(jnp.int32)


def _check_ids(ids, width: int):
  if ids.ndim != 1 or not jnp.issubdtype(ids.dtype, jnp.integer):
    raise ValueError(f"steer: ids must be a 1-d int array, got {ids.dtype} "
                     f"{ids.shape}")
  # On the host: under a jit trace (a hooked `generate`), jnp ops on even
  # concrete ids are staged and cannot be tested.
  if not isinstance(ids, jax.core.Tracer) and ids.size:
    host = np.asarray(ids)
    if host.min() < 0 or host.max() >= width:
      raise ValueError(f"steer: latent ids must be in [0, {width}), got "
                       f"{host.tolist()}")


def steer(x: jax.Array, params, config: SAEConfig, ids, alpha: float,
          mode: str = "add", tau: float = 0.0) -> jax.Array:
  """x [..., d] moved against the latents `ids` of the SAE (params,
  config); see the module docstring. Rows the edit does not touch (alpha 0,
  or no latent above tau in "conditional"/"clamp") come back bit-identical.
  """
  if mode not in MODES:
    raise ValueError(f"steer: mode must be one of {MODES}, got {mode!r}")
  ids = ids if isinstance(ids, jax.Array) else np.asarray(ids)
  _check_ids(ids, config.width)
  if x.shape[-1] != config.d_in:
    raise ValueError(f"steer: activations of width {x.shape[-1]}, but the "
                     f"SAE reads d_in={config.d_in}")
  directions = unit_rows(params["W_dec"][ids]).astype(x.dtype)  # [n, d]
  if mode == "add":
    s = jnp.ones((*x.shape[:-1], ids.shape[0]), x.dtype)
  else:
    alpha = 1.0 if mode == "clamp" else alpha
    flat = x.reshape(-1, x.shape[-1])
    f = SAE(config).apply({"params": params}, flat, method=SAE.encode)
    f = f[:, ids].reshape(*x.shape[:-1], ids.shape[0])
    s = jnp.where(f > tau, f, 0.0).astype(x.dtype)
  moved = x - alpha * (s @ directions)
  touched = (s != 0).any(-1, keepdims=True) & (alpha != 0)
  return jnp.where(touched, moved, x)
