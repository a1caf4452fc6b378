"""Mamba's selective scan, channels-last.

`selective_scan` has the semantics of mamba-ssm's `selective_scan_fn`
(Gu & Dao, "Mamba", 2023) with the channel axis last:

    dt_t = softplus(delta_t + delta_bias)        (or delta_t + delta_bias)
    h_t  = exp(dt_t A) * h_{t-1} + dt_t B_t u_t   h: [B, Dm, N]
    y_t  = <C_t, h_t> + D u_t,  then * silu(z_t) when z is given

with u, delta, z [B, L, Dm]; A [Dm, N]; B, C [B, L, N] (shared by all
channels, Mamba-1's layout); D, delta_bias [Dm]. Arithmetic is f32 (as the
CUDA kernel's); the output has u's dtype.

Implementations:
  "sequential": `lax.scan` over time, one state update per step: the
                reference.
  "xla":        the recurrence is linear in h, so it is a prefix "sum" under
                (a1, b1) . (a2, b2) = (a1 a2, a2 b1 + b2) with
                a_t = exp(dt_t A), b_t = dt_t B_t u_t; `lax.associative_scan`
                runs it within chunks of `chunk` steps and a `lax.scan`
                carries h between chunks, so memory is O(B chunk Dm N), not
                O(B L Dm N); each chunk is rematerialised in the backward
                pass for the same reason.

The default is "sequential" on CPU, where XLA runs the scan's loop well and
the associative form's extra work costs more than it saves (fwd+bwd at
B=64, L=64, Dm=128, N=16, 2 shared cores: 254 ms sequential, 471 ms
"xla" in one chunk, 341 ms in chunks of 16), and "xla" on accelerators.

`selective_scan_step` is one step of the recurrence (decoding with a
cached state, as mamba-ssm's `selective_state_update`).
"""

import functools

import jax
from jax import numpy as jnp

IMPLEMENTATIONS = ("sequential", "xla")


def _check(u, delta, A, B, C, D, z, delta_bias, initial_state, steps: bool):
  """Shapes and dtypes of the arguments; `steps` drops the length axis."""
  op = "selective_scan_step" if steps else "selective_scan"
  if u.ndim != (2 if steps else 3):
    raise ValueError(f"{op}: u must be [B, {'' if steps else 'L, '}Dm], got "
                     f"shape {u.shape}")
  batch, width = u.shape[0], u.shape[-1]
  if A.ndim != 2 or A.shape[0] != width:
    raise ValueError(f"{op}: A must be [Dm={width}, N], got {A.shape}")
  n = A.shape[1]
  expected = {"delta": (delta, u.shape), "B": (B, (*u.shape[:-1], n)),
              "C": (C, (*u.shape[:-1], n)), "D": (D, (width,)),
              "z": (z, u.shape), "delta_bias": (delta_bias, (width,)),
              "initial_state": (initial_state, (batch, width, n))}
  for name, (x, shape) in expected.items():
    if x is None:
      continue
    if x.shape != shape:
      raise ValueError(f"{op}: {name} must have shape {shape}, got {x.shape}")
    if not jnp.issubdtype(x.dtype, jnp.floating):
      raise ValueError(f"{op}: {name} must be floating point, got {x.dtype}")
  for name, x in (("u", u), ("A", A)):
    if not jnp.issubdtype(x.dtype, jnp.floating):
      raise ValueError(f"{op}: {name} must be floating point, got {x.dtype}")


def _discretise(u, delta, A, B, delta_bias, delta_softplus):
  """(exp(dt A), dt B u): [..., Dm, N] each, f32."""
  dt = delta.astype(jnp.float32)
  if delta_bias is not None:
    dt = dt + delta_bias.astype(jnp.float32)
  if delta_softplus:
    dt = jax.nn.softplus(dt)
  decay = jnp.exp(dt[..., None] * A.astype(jnp.float32))
  drive = (dt * u.astype(jnp.float32))[..., None] * (
      B.astype(jnp.float32)[..., None, :])
  return decay, drive


def _readout(h, u, C, D, z):
  """y = <C, h> (+ D u) (* silu(z)), f32; h [..., Dm, N]."""
  y = jnp.einsum("...dn,...n->...d", h, C.astype(jnp.float32))
  if D is not None:
    y = y + D.astype(jnp.float32) * u.astype(jnp.float32)
  if z is not None:
    y = y * jax.nn.silu(z.astype(jnp.float32))
  return y


def selective_scan_step(state, u, delta, A, B, C, D=None, z=None,
                        delta_bias=None, delta_softplus=True):
  """One step of the scan.

  Args:
    state: [B, Dm, N] h_{t-1}.
    u, delta, z: [B, Dm]; B, C: [B, N]; A: [Dm, N]; D, delta_bias: [Dm].

  Returns:
    (y_t [B, Dm] in u's dtype, h_t [B, Dm, N] f32).
  """
  _check(u, delta, A, B, C, D, z, delta_bias, state, steps=True)
  decay, drive = _discretise(u, delta, A, B, delta_bias, delta_softplus)
  h = decay * state.astype(jnp.float32) + drive
  return _readout(h, u, C, D, z).astype(u.dtype), h


def _sequential(decay, drive, h0):
  """h_t for every t by a scan over time; decay, drive [B, L, Dm, N]."""
  def step(h, inputs):
    a, b = inputs
    h = a * h + b
    return h, h
  last, hs = jax.lax.scan(step, h0, (jnp.moveaxis(decay, 1, 0),
                                     jnp.moveaxis(drive, 1, 0)))
  return jnp.moveaxis(hs, 0, 1), last


def _combine(first, second):
  a1, b1 = first
  a2, b2 = second
  return a1 * a2, a2 * b1 + b2


def _chunked(u, delta, A, B, C, D, z, delta_bias, delta_softplus, h0,
             chunk):
  """The associative scan per chunk, h carried between chunks; returns
  (y [B, L, Dm] f32, last state)."""
  length = u.shape[1]
  pad = -length % chunk
  def split(x):  # [B, L, ...] -> [L / chunk, B, chunk, ...]
    if x is None:
      return None
    x = jnp.pad(x, [(0, 0), (0, pad)] + [(0, 0)] * (x.ndim - 2))
    x = x.reshape(x.shape[0], -1, chunk, *x.shape[2:])
    return jnp.moveaxis(x, 1, 0)
  # Padded steps become the identity element (a = 1, b = 0), so the carried
  # state after the last chunk is the state after the last real step.
  real = (jnp.arange(length + pad) < length).reshape(-1, chunk)

  @jax.checkpoint
  def one_chunk(h, xs):
    u_c, delta_c, B_c, C_c, z_c, real_c = xs
    decay, drive = _discretise(u_c, delta_c, A, B_c, delta_bias,
                               delta_softplus)
    real_c = real_c[:, None, None]
    decay, drive = jnp.where(real_c, decay, 1), jnp.where(real_c, drive, 0)
    a, b = jax.lax.associative_scan(_combine, (decay, drive), axis=1)
    hs = a * h[:, None] + b  # [B, chunk, Dm, N]
    return hs[:, -1], _readout(hs, u_c, C_c, D, z_c)

  xs = (*(split(x) for x in (u, delta, B, C, z)), real)
  last, ys = jax.lax.scan(one_chunk, h0, xs)
  y = jnp.moveaxis(ys, 0, 1).reshape(u.shape[0], -1, u.shape[2])
  return y[:, :length], last


@functools.partial(jax.jit, static_argnames=(
    "delta_softplus", "return_last_state", "implementation", "chunk"))
def _selective_scan(u, delta, A, B, C, D, z, delta_bias, initial_state, *,
                    delta_softplus, return_last_state, implementation,
                    chunk):
  batch, _, width = u.shape
  h0 = (jnp.zeros((batch, width, A.shape[1]), jnp.float32)
        if initial_state is None else initial_state.astype(jnp.float32))
  if implementation == "sequential":
    decay, drive = _discretise(u, delta, A, B, delta_bias, delta_softplus)
    hs, last = _sequential(decay, drive, h0)
    y = _readout(hs, u, C, D, z)
  else:
    y, last = _chunked(u, delta, A, B, C, D, z, delta_bias, delta_softplus,
                       h0, min(chunk, u.shape[1]))
  y = y.astype(u.dtype)
  return (y, last) if return_last_state else y


def selective_scan(u, delta, A, B, C, D=None, z=None, delta_bias=None,
                   delta_softplus=True, initial_state=None,
                   return_last_state=False, implementation=None,
                   chunk: int = 64):
  """Mamba's selective scan; see the module docstring.

  Args:
    u, delta: [B, L, Dm]; A: [Dm, N]; B, C: [B, L, N].
    D, delta_bias: optional [Dm]; z: optional [B, L, Dm] gate.
    delta_softplus: softplus on delta (+ bias), as Mamba.
    initial_state: optional [B, Dm, N] h_{-1}; zeros by default.
    return_last_state: also return h_{L-1} [B, Dm, N] (f32).
    implementation: "sequential" or "xla"; None picks by backend (see the
      module docstring).
    chunk: steps per associative-scan chunk ("xla").

  Returns:
    y [B, L, Dm] in u's dtype (and the last state).
  """
  if implementation is None:
    implementation = "sequential" if jax.default_backend() == "cpu" else "xla"
  if implementation not in IMPLEMENTATIONS:
    raise ValueError(f"selective_scan: unknown implementation "
                     f"{implementation!r}; expected one of {IMPLEMENTATIONS}")
  if chunk < 1:
    raise ValueError(f"selective_scan: chunk must be >= 1, got {chunk}")
  _check(u, delta, A, B, C, D, z, delta_bias, initial_state, steps=False)
  if u.shape[1] == 0:
    raise ValueError("selective_scan: u has no time steps (L = 0)")
  return _selective_scan(u, delta, A, B, C, D, z, delta_bias, initial_state,
                         delta_softplus=delta_softplus,
                         return_last_state=return_last_state,
                         implementation=implementation, chunk=chunk)
