"""The selective scan: both implementations and the step equal a float64
Python loop of the recurrence, with equal gradients."""

import jax
import numpy as np
import pytest
from jax import numpy as jnp

from ops.ssm import selective_scan, selective_scan_step

BATCH, LENGTH, WIDTH, STATE = 2, 13, 6, 4


def _inputs(seed, length=LENGTH):
  keys = jax.random.split(jax.random.key(seed), 8)
  normal = lambda k, shape, s=1.0: s * jax.random.normal(k, shape)
  return dict(
      u=normal(keys[0], (BATCH, length, WIDTH)),
      delta=normal(keys[1], (BATCH, length, WIDTH), 0.5),
      # S4D-real-like negative A, as Mamba's -exp(A_log).
      A=-jnp.exp(normal(keys[2], (WIDTH, STATE), 0.5)),
      B=normal(keys[3], (BATCH, length, STATE)),
      C=normal(keys[4], (BATCH, length, STATE)),
      D=normal(keys[5], (WIDTH,)),
      z=normal(keys[6], (BATCH, length, WIDTH)),
      delta_bias=normal(keys[7], (WIDTH,), 0.3))


def _loop(u, delta, A, B, C, D, z, delta_bias, h0=None, softplus=True):
  """The recurrence written out, float64 numpy."""
  u, delta, A, B, C, D, z, bias = (
      np.asarray(x, np.float64) for x in (u, delta, A, B, C, D, z,
                                          delta_bias))
  dt = delta + bias
  dt = np.log1p(np.exp(dt)) if softplus else dt
  h = np.zeros((u.shape[0], u.shape[2], A.shape[1])) if h0 is None else (
      np.asarray(h0, np.float64))
  ys = []
  for t in range(u.shape[1]):
    h = (np.exp(dt[:, t, :, None] * A) * h
         + (dt[:, t] * u[:, t])[..., None] * B[:, t, None, :])
    y = np.einsum("bdn,bn->bd", h, C[:, t]) + D * u[:, t]
    ys.append(y * z[:, t] / (1 + np.exp(-z[:, t])))
  return np.stack(ys, 1), h


@pytest.mark.parametrize("implementation,chunk", [
    ("sequential", 64), ("xla", 64), ("xla", 4), ("xla", 1), ("xla", 13)])
def test_scan_equals_the_loop(implementation, chunk):
  x = _inputs(0)
  h0 = jax.random.normal(jax.random.key(9), (BATCH, WIDTH, STATE))
  y, last = selective_scan(**x, initial_state=h0, return_last_state=True,
                           implementation=implementation, chunk=chunk)
  want_y, want_last = _loop(**x, h0=h0)
  np.testing.assert_allclose(y, want_y, rtol=1e-5, atol=1e-5)
  np.testing.assert_allclose(last, want_last, rtol=1e-5, atol=1e-5)


def test_optional_parts_off():
  """No D, z or bias and no softplus is the bare recurrence."""
  x = _inputs(1)
  y = selective_scan(x["u"], x["delta"], x["A"], x["B"], x["C"],
                     delta_softplus=False, chunk=5)
  ones = dict(D=np.zeros(WIDTH), delta_bias=np.zeros(WIDTH))
  want, _ = _loop(x["u"], x["delta"], x["A"], x["B"], x["C"],
                  z=np.full((BATCH, LENGTH, WIDTH), 50.0), softplus=False,
                  **ones)  # silu(50) = 50 to f64 precision; divided out
  np.testing.assert_allclose(y, want / 50.0, rtol=1e-5, atol=1e-5)


def test_two_halves_with_the_carried_state_equal_the_whole():
  x = _inputs(2)
  whole = selective_scan(**x, chunk=4)
  half = lambda lo, hi: {k: v[:, lo:hi] if v.ndim == 3 else v
                         for k, v in x.items()}
  first, state = selective_scan(**half(0, 6), return_last_state=True)
  second = selective_scan(**half(6, LENGTH), initial_state=state)
  np.testing.assert_allclose(np.concatenate([first, second], 1), whole,
                             rtol=1e-5, atol=1e-5)


def test_steps_equal_the_scan():
  x = _inputs(3)
  state = jnp.zeros((BATCH, WIDTH, STATE))
  ys = []
  for t in range(LENGTH):
    per_step = {k: v[:, t] if v.ndim == 3 else v for k, v in x.items()}
    y, state = selective_scan_step(state, **per_step)
    ys.append(y)
  want, last = selective_scan(**x, return_last_state=True,
                              implementation="sequential")
  np.testing.assert_allclose(np.stack(ys, 1), want, rtol=1e-5, atol=1e-5)
  np.testing.assert_allclose(state, last, rtol=1e-5, atol=1e-5)


def test_gradients_of_both_implementations_agree():
  x = _inputs(4)
  weights = jax.random.normal(jax.random.key(5), (BATCH, LENGTH, WIDTH))
  def loss(params, implementation):
    y = selective_scan(**params, implementation=implementation, chunk=4)
    return jnp.sum(y * weights)
  grads = {impl: jax.grad(loss)(x, impl) for impl in ("sequential", "xla")}
  for name in x:
    np.testing.assert_allclose(grads["xla"][name], grads["sequential"][name],
                               rtol=1e-4, atol=1e-4, err_msg=name)


def test_output_keeps_the_input_dtype():
  x = {k: v.astype(jnp.bfloat16) for k, v in _inputs(6).items()}
  assert selective_scan(**x).dtype == jnp.bfloat16


@pytest.mark.parametrize("name,bad", [
    ("delta", np.zeros((BATCH, LENGTH, WIDTH + 1))),
    ("B", np.zeros((BATCH, LENGTH, STATE + 1))),
    ("C", np.zeros((BATCH, LENGTH - 1, STATE))),
    ("D", np.zeros((WIDTH, 1))),
    ("z", np.zeros((BATCH, LENGTH, WIDTH), np.int32)),
    ("initial_state", np.zeros((BATCH, WIDTH, STATE + 1))),
    ("A", np.zeros((WIDTH + 1, STATE)))])
def test_misshaped_arguments_are_named(name, bad):
  x = _inputs(7)
  x[name] = bad
  with pytest.raises(ValueError, match=f"selective_scan: {name} "):
    selective_scan(**x)


def test_unknown_implementation_and_bad_chunk_are_refused():
  with pytest.raises(ValueError, match="implementation"):
    selective_scan(**_inputs(8), implementation="cuda")
  with pytest.raises(ValueError, match="chunk"):
    selective_scan(**_inputs(8), chunk=0)
