"""Tests for ops.vocab_reduce: every implementation against float64 numpy,
sharding, dispatch and input validation."""

import importlib

import jax
import numpy as np
import pytest
from jax import numpy as jnp

from ops.vocab import VocabStats, vocab_reduce
from tests.pallas_kernels.test_vocab_reduce_kernel import (
    brute_force,
    make_logits,
)

# The module, not the function that shadows it in `ops`.
vocab_module = importlib.import_module("ops.vocab")
IMPLS = ("xla", "interpret")


def expected_stats(logits, k, tokens):
  """VocabStats in float64 from the brute-force reductions."""
  flat = logits.reshape(-1, logits.shape[-1])
  lse, entropy, values, ids = brute_force(flat, max(k, 2))
  probs = np.exp(values - lse[:, None])
  x = np.asarray(flat.astype(jnp.float32), np.float64)
  picked = np.take_along_axis(x, np.asarray(tokens).reshape(len(x), -1), 1)
  lead = logits.shape[:-1]
  return VocabStats(
      logsumexp=lse.reshape(lead), argmax=ids[:, 0].reshape(lead),
      top_logits=values[:, :k].reshape(lead + (k,)),
      top_ids=ids[:, :k].reshape(lead + (k,)),
      confidence=probs[:, 0].reshape(lead),
      margin=(probs[:, 0] - probs[:, 1]).reshape(lead),
      entropy=entropy.reshape(lead),
      token_logprob=(picked - lse[:, None]).reshape(tokens.shape))


def assert_stats(got, want):
  for name, a, b in zip(VocabStats._fields, got, want, strict=True):
    if name in ("argmax", "top_ids", "top_logits"):
      np.testing.assert_array_equal(a, b, err_msg=name)
    else:
      np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6, err_msg=name)


def some_finite_logits(dtype):
  """The kernel tests' logits [6, 300] without the all -inf row."""
  return make_logits(dtype)[np.array([0, 1, 2, 3, 4, 6])]


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("k,dtype", ((1, jnp.bfloat16), (6, jnp.float32)))
def test_matches_brute_force(impl, k, dtype):
  """Leading dims [2, 3]; rows of ties, a row with 3 finite logits."""
  logits = some_finite_logits(dtype).reshape(2, 3, -1)
  tokens = jnp.asarray(np.random.default_rng(1).integers(0, 300, (2, 3, 4)))
  got = jax.jit(lambda x, t: vocab_reduce(
      x, k=k, tokens=t, implementation=impl))(logits, tokens)
  assert got.argmax.dtype == got.top_ids.dtype == jnp.int32
  assert got.top_logits.shape == (2, 3, k)
  assert_stats(got, expected_stats(logits, k, tokens))


def test_single_token_vocabulary():
  logits = jnp.asarray([[0.3], [-2.0]])
  for impl in IMPLS:
    got = vocab_reduce(logits, implementation=impl)
    np.testing.assert_allclose(got.logsumexp, [0.3, -2.0])
    np.testing.assert_array_equal(got.confidence, 1.0)
    np.testing.assert_array_equal(got.margin, 1.0)
    np.testing.assert_array_equal(got.entropy, 0.0)
    assert got.token_logprob is None


def test_gradients_match_reference():
  """Through the log-normaliser, entropy, top logits and token log-probs."""
  logits = some_finite_logits(jnp.float32)[np.array([0, 2, 5])]
  tokens = jnp.asarray([[3, 9], [0, 299], [17, 17]])

  def grads(impl):
    def loss(x):
      stats = vocab_reduce(x, k=3, tokens=tokens, implementation=impl)
      return (jnp.sum(stats.logsumexp) + jnp.sum(stats.entropy)
              + jnp.sum(stats.top_logits) - jnp.sum(stats.token_logprob))
    return jax.jit(jax.grad(loss))(logits)

  np.testing.assert_allclose(grads("interpret"), grads("xla"), rtol=1e-6,
                             atol=1e-7)


def test_sharded_over_mesh(mesh8):
  logits = some_finite_logits(jnp.float32)
  tokens = jnp.asarray(np.random.default_rng(2).integers(0, 300, (6, 3)))
  with jax.set_mesh(mesh8):
    got = jax.jit(lambda x, t: vocab_reduce(
        x, k=3, tokens=t, implementation="interpret"))(logits, tokens)
  assert_stats(got, expected_stats(logits, 3, tokens))


def _spy(monkeypatch):
  """Records which implementation runs; the kernel is stubbed out."""
  from pallas_kernels import vocab_reduce as kernels

  calls = []
  reference = vocab_module.vocab_reduce_reference

  def fake_kernel(logits, *, k, interpret):
    calls.append(f"kernel interpret={interpret}")
    stats = reference(logits, k=k)
    return stats.logsumexp, stats.entropy, stats.top_logits, stats.top_ids

  def spy_reference(*args, **kwargs):
    calls.append("reference")
    return reference(*args, **kwargs)

  monkeypatch.setattr(kernels, "vocab_stats", fake_kernel)
  monkeypatch.setattr(vocab_module, "vocab_reduce_reference", spy_reference)
  return calls


def test_dispatch_default_env_and_argument(monkeypatch):
  logits = make_logits(jnp.float32)
  calls = _spy(monkeypatch)
  monkeypatch.delenv("ZOO_IMPL", raising=False)
  vocab_reduce(logits, k=2)
  assert calls == ["reference"]  # the CPU default
  monkeypatch.setenv("ZOO_IMPL", "vocab_reduce=interpret")
  vocab_reduce(logits, k=2)
  assert calls[-1] == "kernel interpret=True"
  vocab_reduce(logits, k=2, implementation="xla")
  assert calls[-1] == "reference"  # the argument beats the environment
  with pytest.raises(NotImplementedError, match="GPU or TPU"):
    vocab_reduce(logits, implementation="pallas")


def test_large_k_falls_back_to_xla():
  logits = make_logits(jnp.float32)
  got = vocab_reduce(logits, k=40, implementation=("interpret", "xla"))
  np.testing.assert_array_equal(got.top_ids, brute_force(logits, 40)[3])
  with pytest.raises(NotImplementedError, match="k=40 > 32"):
    vocab_reduce(logits, k=40, implementation="interpret")


BAD_INPUTS = (
    (dict(logits=jnp.zeros((3, 0))), "logits must be \\[..., V\\] with V > 0"),
    (dict(logits=jnp.zeros((3, 5), jnp.int32)), "logits must be floating"),
    (dict(k=0), "k must be in \\[1, V=5\\], got 0"),
    (dict(k=6), "k must be in \\[1, V=5\\], got 6"),
    (dict(tokens=jnp.zeros((4, 2), jnp.int32)), "tokens must be int"),
    (dict(tokens=jnp.zeros((3, 2))), "leading shape \\(3,\\)"),
)


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("bad,message", BAD_INPUTS)
def test_bad_inputs(impl, bad, message):
  args = dict(logits=jnp.zeros((3, 5)), k=1, tokens=None)
  args.update(bad)
  with pytest.raises(ValueError, match=message):
    vocab_reduce(args.pop("logits"), implementation=impl, **args)


@pytest.mark.parametrize("impl", (*IMPLS, "reference"))
@pytest.mark.parametrize("k", (1, 2, 5))
def test_nan_logits_rank_as_minus_inf(impl, k):
  """A NaN logit never beats a real one and is reported as -inf; it makes
  the row's statistics NaN. Other rows are unaffected."""
  logits = np.array(make_logits(jnp.float32))
  nan_rows = [0, 2, 3]
  logits[0, [5, 150]] = np.nan  # ties around them
  logits[2, [int(np.argmax(logits[2])), 299]] = np.nan  # the real argmax
  logits[3, 7] = np.nan  # 3 finite logits -> 2, then -inf ones by id
  with_nan = jnp.asarray(logits)
  as_minus_inf = jnp.asarray(np.where(np.isnan(logits), -np.inf, logits))
  tokens = jnp.asarray([[5, 6]] * len(logits))
  if impl == "reference":
    run = lambda x: vocab_module.vocab_reduce_reference(x, k=k, tokens=tokens)
  else:
    run = lambda x: vocab_reduce(x, k=k, tokens=tokens, implementation=impl)
  got, want = run(with_nan), run(as_minus_inf)
  np.testing.assert_array_equal(got.top_ids, want.top_ids)
  np.testing.assert_array_equal(got.argmax, want.argmax)
  np.testing.assert_array_equal(got.top_logits, want.top_logits)
  others = np.setdiff1d(np.arange(len(logits)), nan_rows)
  for name in ("logsumexp", "confidence", "margin", "entropy"):
    a = np.asarray(getattr(got, name))
    assert np.isnan(a[nan_rows]).all(), name
    np.testing.assert_array_equal(a[others],
                                  np.asarray(getattr(want, name))[others])
  assert np.isnan(np.asarray(got.token_logprob)[nan_rows]).all()


def test_gradients_under_x64():
  logits = some_finite_logits(jnp.float32)[np.array([0, 2, 5])]
  tokens = np.asarray([[3, 9], [0, 299], [17, 17]])

  def grads(impl):
    def loss(x):
      stats = vocab_reduce(x, k=3, tokens=jnp.asarray(tokens),
                           implementation=impl)
      return (jnp.sum(stats.logsumexp) + jnp.sum(stats.entropy)
              + jnp.sum(stats.top_logits) - jnp.sum(stats.token_logprob))
    return jax.grad(loss)(logits)

  want = grads("xla")
  with jax.enable_x64(True):  # int64 tokens, and the kernel's int carries
    got = grads("interpret")
  assert got.dtype == want.dtype
  np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-7)
