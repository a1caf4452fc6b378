"""Tests for ops.maxsim: every implementation against a float64 brute force."""

import importlib

import hypothesis
import jax
import numpy as np
import pytest
from hypothesis import strategies as st
from jax import numpy as jnp

import ops
from ops.maxsim import maxsim, maxsim_reference

# The module, not the function `ops.maxsim` that shadows it.
maxsim_module = importlib.import_module("ops.maxsim")

IMPLS = ("xla", "interpret")


def brute_force(q, d, q_mask, d_mask, diagonal=False):
  """float64 MaxSim on the (already rounded) inputs, loops over pairs."""
  q = np.asarray(q, np.float64)
  d = np.asarray(d, np.float64)
  q_mask, d_mask = np.asarray(q_mask), np.asarray(d_mask)
  pairs = ([(b, b) for b in range(len(q))] if diagonal else
           [(b, n) for b in range(len(q)) for n in range(len(d))])
  out = np.zeros((len(q),) if diagonal else (len(q), len(d)))
  for b, n in pairs:
    sim = np.where(d_mask[n][None], q[b] @ d[n].T, -np.inf)  # [Lq, Ld]
    total = np.where(q_mask[b], sim.max(axis=1), 0.0).sum()
    out[(b,) if diagonal else (b, n)] = total
  return out


def make_inputs(b, lq, n, ld, dim, dtype, seed=0, masked=True):
  """Random inputs; row 0 of the query mask and doc 1 are all-masked."""
  rng = np.random.default_rng(seed)
  q = jnp.asarray(rng.standard_normal((b, lq, dim)), dtype)
  d = jnp.asarray(rng.standard_normal((n, ld, dim)), dtype)
  if not masked:
    return q, d, None, None
  q_mask = rng.random((b, lq)) < 0.7
  d_mask = rng.random((n, ld)) < 0.6
  q_mask[0] = False
  if n > 1:
    d_mask[1] = False
  return q, d, jnp.asarray(q_mask), jnp.asarray(d_mask)


def full_mask(mask, x):
  return np.ones(x.shape[:2], bool) if mask is None else mask


def assert_scores(actual, expected, dtype):
  actual = np.asarray(actual)
  np.testing.assert_array_equal(np.isneginf(actual), np.isneginf(expected))
  finite = np.isfinite(expected)
  tol = 1e-5 if dtype == jnp.float32 else 1e-4
  np.testing.assert_allclose(actual[finite], expected[finite], rtol=tol,
                             atol=tol)


@pytest.mark.parametrize("impl", (*IMPLS, "reference"))
@pytest.mark.parametrize("dtype", (jnp.float32, jnp.bfloat16))
@pytest.mark.parametrize("pairs", ("all", "diagonal"))
@pytest.mark.parametrize("shape", ((3, 5, 7, 11, 24), (2, 16, 5, 40, 32)))
def test_matches_brute_force(impl, dtype, pairs, shape):
  b, lq, n, ld, dim = shape
  n = b if pairs == "diagonal" else n
  q, d, q_mask, d_mask = make_inputs(b, lq, n, ld, dim, dtype)
  if impl == "reference":
    out = maxsim_reference(q, d, q_mask=q_mask, d_mask=d_mask, pairs=pairs)
  else:
    out = maxsim(q, d, q_mask=q_mask, d_mask=d_mask, pairs=pairs,
                 implementation=impl)
  assert out.dtype == jnp.float32
  assert out.shape == ((b,) if pairs == "diagonal" else (b, n))
  assert_scores(out, brute_force(q, d, q_mask, d_mask, pairs == "diagonal"),
                dtype)


@pytest.mark.parametrize("impl", IMPLS)
def test_without_masks(impl):
  q, d, _, _ = make_inputs(3, 5, 7, 11, 24, jnp.float32, masked=False)
  ones_q, ones_d = np.ones((3, 5), bool), np.ones((7, 11), bool)
  assert_scores(maxsim(q, d, implementation=impl),
                brute_force(q, d, ones_q, ones_d), jnp.float32)


@pytest.mark.parametrize("impl", (*IMPLS, "reference"))
def test_edge_cases(impl):
  q, d, _, _ = make_inputs(3, 5, 7, 11, 24, jnp.float32, masked=False)
  q_mask = jnp.ones((3, 5), bool).at[0].set(False)
  d_mask = jnp.ones((7, 11), bool).at[2].set(False)

  def scores(q, d):
    if impl == "reference":
      return maxsim_reference(q, d, q_mask=q_mask, d_mask=d_mask)
    return maxsim(q, d, q_mask=q_mask, d_mask=d_mask, implementation=impl)

  out, vjp = jax.vjp(scores, q, d)
  out = np.asarray(out)
  np.testing.assert_array_equal(out[0], 0.0)  # all-masked query
  np.testing.assert_array_equal(out[1:, 2], -np.inf)  # all-masked doc
  assert np.isfinite(out[1:][:, [0, 1, 3, 4, 5, 6]]).all()
  dq, dd = vjp(jnp.ones_like(out))
  assert np.isfinite(dq).all() and np.isfinite(dd).all()
  np.testing.assert_array_equal(dq[0], 0.0)
  np.testing.assert_array_equal(dd[2], 0.0)


GRAD_CASES = (
    (3, 5, 7, 11, 24, "all", True),
    (2, 16, 5, 40, 32, "all", False),
    (3, 5, 3, 11, 24, "diagonal", True),
    (4, 16, 4, 40, 32, "diagonal", False),
)


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("case", GRAD_CASES)
def test_gradients_match_reference(impl, case):
  *shape, pairs, masked = case
  q, d, q_mask, d_mask = make_inputs(*shape, jnp.float32, seed=1,
                                     masked=masked)
  kwargs = dict(q_mask=q_mask, d_mask=d_mask, pairs=pairs)
  out_ref, vjp_ref = jax.vjp(lambda *a: maxsim_reference(*a, **kwargs), q, d)
  out, vjp = jax.vjp(
      lambda *a: maxsim(*a, implementation=impl, **kwargs), q, d)
  cotangent = jnp.asarray(
      np.random.default_rng(2).standard_normal(out.shape), jnp.float32)
  for got, want in zip(vjp(cotangent), vjp_ref(cotangent), strict=True):
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
  assert_scores(out, np.asarray(out_ref), jnp.float32)


def test_xla_chunks_match_reference(monkeypatch):
  """Forces the chunked forward (lax.map) and backward (lax.scan) paths."""
  monkeypatch.setattr(maxsim_module, "_XLA_CHUNK_ELEMENTS", 3 * 5 * 11 * 2)
  monkeypatch.setattr(maxsim_module, "_BWD_CHUNK_ELEMENTS", 3 * 5 * 24 * 3)
  q, d, q_mask, d_mask = make_inputs(3, 5, 7, 11, 24, jnp.float32)
  for pairs, dd, dm in (("all", d, d_mask), ("diagonal", d[:3], d_mask[:3])):
    kwargs = dict(q_mask=q_mask, d_mask=dm, pairs=pairs)
    out, vjp = jax.vjp(lambda *a, kw=kwargs: maxsim(
        *a, implementation="xla", **kw), q, dd)
    _, vjp_ref = jax.vjp(lambda *a, kw=kwargs: maxsim_reference(*a, **kw),
                         q, dd)
    assert_scores(out, brute_force(q, dd, q_mask, dm, pairs == "diagonal"),
                  jnp.float32)
    g = jnp.ones_like(out)
    for got, want in zip(vjp(g), vjp_ref(g), strict=True):
      np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


@hypothesis.settings(deadline=None, max_examples=6, derandomize=True)
@hypothesis.given(
    b=st.integers(1, 4), lq=st.integers(1, 9), n=st.integers(1, 6),
    ld=st.integers(1, 20), dim=st.integers(1, 40),
    bf16=st.booleans(), diagonal=st.booleans(), seed=st.integers(0, 99))
def test_shape_fuzz(b, lq, n, ld, dim, bf16, diagonal, seed):
  n = b if diagonal else n
  dtype = jnp.bfloat16 if bf16 else jnp.float32
  q, d, q_mask, d_mask = make_inputs(b, lq, n, ld, dim, dtype, seed=seed)
  expected = brute_force(q, d, q_mask, d_mask, diagonal)
  pairs = "diagonal" if diagonal else "all"
  for impl in IMPLS:
    assert_scores(maxsim(q, d, q_mask=q_mask, d_mask=d_mask, pairs=pairs,
                         implementation=impl), expected, dtype)


@pytest.mark.parametrize("impl", IMPLS)
def test_sharded_over_mesh(impl):
  mesh = jax.make_mesh((4, 1, 2), ("data", "fsdp", "tensor"),
                       axis_types=(jax.sharding.AxisType.Auto,) * 3)
  q, d, q_mask, d_mask = make_inputs(3, 5, 10, 11, 24, jnp.float32)
  qd, dd, qdm, ddm = make_inputs(6, 5, 6, 11, 24, jnp.float32, seed=3)
  with jax.set_mesh(mesh):
    out_all, vjp = jax.vjp(lambda *a: maxsim(
        *a, q_mask=q_mask, d_mask=d_mask, implementation=impl), q, d)
    grads = vjp(jnp.ones_like(out_all))
    out_diag = jax.jit(lambda *a: maxsim(
        *a, q_mask=qdm, d_mask=ddm, pairs="diagonal",
        implementation=impl))(qd, dd)
  assert_scores(out_all, brute_force(q, d, q_mask, d_mask), jnp.float32)
  assert_scores(out_diag, brute_force(qd, dd, qdm, ddm, True), jnp.float32)
  _, vjp_ref = jax.vjp(lambda *a: maxsim_reference(
      *a, q_mask=q_mask, d_mask=d_mask), q, d)
  for got, want in zip(grads, vjp_ref(jnp.ones_like(out_all)), strict=True):
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def _spy(monkeypatch):
  """Records which implementation functions the op calls."""
  from pallas_kernels import maxsim as kernels

  calls = []
  for module, name in ((maxsim_module, "_scores_xla"),
                       (kernels, "maxsim_scores")):
    original = getattr(module, name)

    def spy(*args, _name=name, _original=original, **kwargs):
      calls.append(_name)
      return _original(*args, **kwargs)

    monkeypatch.setattr(module, name, spy)
  return calls


def test_dispatch_default_env_and_argument(monkeypatch):
  q, d, _, _ = make_inputs(3, 5, 7, 11, 24, jnp.float32, masked=False)
  calls = _spy(monkeypatch)
  monkeypatch.delenv("ZOO_IMPL", raising=False)
  maxsim(q, d)
  assert calls == ["_scores_xla"]  # the CPU default
  monkeypatch.setenv("ZOO_IMPL", "maxsim=interpret,vq_nearest=xla")
  maxsim(q, d)
  assert calls[-1] == "maxsim_scores"
  maxsim(q, d, implementation="xla")  # the argument beats the environment
  assert calls[-1] == "_scores_xla"
  monkeypatch.setenv("ZOO_IMPL", "xla")
  maxsim(q, d, implementation="interpret")
  assert calls[-1] == "maxsim_scores"


def test_pallas_needs_an_accelerator():
  q, d, _, _ = make_inputs(3, 5, 7, 11, 24, jnp.float32, masked=False)
  with pytest.raises(NotImplementedError, match="GPU or TPU"):
    maxsim(q, d, implementation="pallas")
  with pytest.raises(ValueError, match="unknown implementation"):
    maxsim(q, d, implementation="cuda")


def test_exported_from_ops():
  assert ops.maxsim is maxsim
  assert ops.maxsim_reference is maxsim_reference


F32, BF16 = jnp.float32, jnp.bfloat16
BAD_INPUTS = (
    (dict(q=((3, 5), F32)), "q must be a non-empty \\[B, Lq, D\\]"),
    (dict(d=((7, 11, 24, 1), F32)), "d must be a non-empty \\[N, Ld, D\\]"),
    (dict(d=((0, 11, 24), F32)), "d must be a non-empty"),
    (dict(q=((3, 5, 24), jnp.float16)), "q must be float32 or bfloat16"),
    (dict(q=((3, 5, 24), jnp.int32)), "q must be float32 or bfloat16"),
    (dict(d=((7, 11, 24), BF16)), "dtypes differ"),
    (dict(d=((7, 11, 16), F32)), "feature sizes differ"),
    (dict(q_mask=((3, 4), bool)), "q_mask must be bool with shape \\(3, 5\\)"),
    (dict(q_mask=((3, 5), F32)), "q_mask must be bool"),
    (dict(d_mask=((7, 12), bool)), "d_mask must be bool with shape"),
    (dict(pairs="diagonal"), "needs as many documents as queries"),
    (dict(pairs="rows"), "pairs must be one of"),
)


@pytest.mark.parametrize("fn", (maxsim, maxsim_reference))
@pytest.mark.parametrize("bad,message", BAD_INPUTS)
def test_bad_inputs(fn, bad, message):
  args = dict(q=((3, 5, 24), F32), d=((7, 11, 24), F32),
              q_mask=((3, 5), bool), d_mask=((7, 11), bool), pairs="all")
  args.update(bad)
  arrays = {k: jnp.zeros(*v) for k, v in args.items() if k != "pairs"}
  with pytest.raises(ValueError, match=message):
    fn(arrays.pop("q"), arrays.pop("d"), pairs=args["pairs"], **arrays)


def _scores_fn(impl, **kwargs):
  if impl == "reference":
    return lambda q, d: maxsim_reference(q, d, **kwargs)
  return lambda q, d: maxsim(q, d, implementation=impl, **kwargs)


@pytest.mark.parametrize("impl", (*IMPLS, "reference"))
@pytest.mark.parametrize("pairs", ("all", "diagonal"))
def test_masked_nan_tokens_take_no_part(impl, pairs):
  """NaN or inf in masked tokens (padding), including a whole empty
  document, reaches neither the scores nor the gradients."""
  q, d, q_mask, d_mask = make_inputs(3, 5, 3, 19, 24, jnp.float32, seed=3)
  garbage = lambda x, m: jnp.where(m[..., None], x, jnp.nan).at[0, 0, 0].set(
      jnp.where(m[0, 0], x[0, 0, 0], jnp.inf))
  fn = _scores_fn(impl, q_mask=q_mask, d_mask=d_mask, pairs=pairs)
  clean, vjp_clean = jax.vjp(fn, q, d)
  dirty, vjp_dirty = jax.vjp(fn, garbage(q, q_mask), garbage(d, d_mask))
  np.testing.assert_array_equal(dirty, clean)
  cotangent = jnp.asarray(
      np.random.default_rng(4).standard_normal(clean.shape), jnp.float32)
  for got, want in zip(vjp_dirty(cotangent), vjp_clean(cotangent)):
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("impl", (*IMPLS, "reference"))
@pytest.mark.parametrize("pairs", ("all", "diagonal"))
def test_gradients_under_x64(impl, pairs):
  """The kernel's argmax stays int32 with jax_enable_x64 on."""
  q, d, q_mask, d_mask = make_inputs(3, 5, 3, 40, 24, jnp.float32, seed=5)
  fn = _scores_fn(impl, q_mask=q_mask, d_mask=d_mask, pairs=pairs)
  loss = lambda q, d: jnp.sum(jnp.where(jnp.isfinite(s := fn(q, d)), s, 0))
  want = jax.grad(loss, (0, 1))(q, d)
  with jax.enable_x64(True):
    got = jax.grad(loss, (0, 1))(q, d)
  for g, w in zip(got, want):
    assert g.dtype == w.dtype
    np.testing.assert_allclose(g, w, rtol=1e-6, atol=1e-6)
