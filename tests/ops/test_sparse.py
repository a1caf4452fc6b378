"""ops.sparse: vocabulary pooling, masks and scores against brute force."""

import jax
import numpy as np
import pytest
from jax import numpy as jnp

from ops import sparse

_NUMPY_ACT = {
    "log1p_relu": lambda x: np.log1p(np.maximum(x, 0)),
    "elu1p": lambda x: np.where(x > 0, x, np.expm1(np.minimum(x, 0))) + 1,
    "relu": lambda x: np.maximum(x, 0),
}


def _logits(seed, b=4, length=6, v=11):
  rng = np.random.default_rng(seed)
  logits = rng.normal(0, 2, (b, length, v)).astype(np.float32)
  lengths = np.array([6, 3, 1, 0])[:b]
  return logits, np.arange(length)[None] < lengths[:, None]


@pytest.mark.parametrize("activation", list(sparse.ACTIVATIONS))
def test_splade_pool_is_a_masked_max_of_the_activation(activation):
  logits, mask = _logits(0)
  got = np.asarray(sparse.splade_pool(logits, mask, activation=activation))
  for b in range(len(logits)):
    real = _NUMPY_ACT[activation](logits[b][mask[b]])
    want = real.max(0) if len(real) else np.zeros(logits.shape[-1])
    np.testing.assert_allclose(got[b], want, rtol=1e-6, atol=1e-6)
  assert np.all(got[-1] == 0)  # no tokens: the zero vector


def test_splade_pool_ignores_padding_whatever_it_holds():
  logits, mask = _logits(1)
  base = sparse.splade_pool(logits, mask)
  poisoned = np.where(mask[..., None], logits,
                      np.float32(1e30) * np.sign(logits))
  poisoned[~mask, 0] = np.nan
  np.testing.assert_array_equal(sparse.splade_pool(poisoned, mask), base)


def test_elu1p_is_positive_before_masking():
  logits, mask = _logits(2)
  pooled = np.asarray(sparse.splade_pool(logits * 10, mask,
                                         activation="elu1p"))
  assert np.all(pooled[mask.any(1)] > 0)


def test_topk_mask_keeps_exactly_the_largest():
  rng = np.random.default_rng(3)
  x = rng.normal(size=(3, 5, 40)).astype(np.float32)
  keep = np.asarray(sparse.topk_mask(x, 7))
  assert np.all(keep.sum(-1) == 7)
  kept_min = np.where(keep, x, np.inf).min(-1)
  dropped_max = np.where(keep, -np.inf, x).max(-1)
  assert np.all(kept_min > dropped_max)
  ties = np.asarray(sparse.topk_mask(jnp.zeros((1, 6)), 2))
  np.testing.assert_array_equal(ties[0], [1, 1, 0, 0, 0, 0])


def test_bow_is_the_set_of_shifted_ids():
  rng = np.random.default_rng(4)
  ids = rng.integers(0, 60, (5, 9)).astype(np.int32)
  mask = rng.random((5, 9)) < 0.8
  got = np.asarray(sparse.bow(ids, mask, vocab_size=40, offset=15))
  for b in range(5):
    want = {int(i) - 15 for i in ids[b][mask[b]] if 15 <= i < 55}
    assert set(np.flatnonzero(got[b])) == want
  assert set(np.unique(got)) <= {0.0, 1.0}


def test_flops_equals_its_closed_form():
  rng = np.random.default_rng(5)
  x = rng.normal(size=(6, 13)).astype(np.float32)
  want = sum((np.abs(x[:, j]).sum() / 6) ** 2 for j in range(13))
  assert float(sparse.flops(x)) == pytest.approx(want, rel=1e-5)


def test_sparse_scores_match_brute_force_with_masks():
  rng = np.random.default_rng(6)
  q, d = rng.random((4, 30), np.float32), rng.random((7, 30), np.float32)
  q_keep, d_keep = rng.random((4, 30)) < 0.3, rng.random((7, 30)) < 0.5
  got = np.asarray(sparse.sparse_scores(q, d, q_keep, d_keep))
  want = [[sum(q[i, j] * d[n, j] for j in range(30)
               if q_keep[i, j] and d_keep[n, j]) for n in range(7)]
          for i in range(4)]
  np.testing.assert_allclose(got, want, rtol=1e-5)
  np.testing.assert_allclose(sparse.sparse_scores(q, d), q @ d.T, rtol=1e-5)


def test_sparse_scores_rank_as_scipy_csr_at_29523_dims():
  scipy_sparse = pytest.importorskip("scipy.sparse")
  rng = np.random.default_rng(7)
  v = 29_523

  def vectors(n, nnz):
    x = np.zeros((n, v), np.float32)
    for row in x:
      row[rng.choice(v, nnz, replace=False)] = rng.random(nnz) + 0.1
    return x

  q, d = vectors(8, 40), vectors(50, 300)
  d[:, :500] += vectors(50, 100)[:, :500]  # shared dimensions: real overlap
  q[:, :500] += vectors(8, 20)[:, :500]
  ours = np.asarray(sparse.sparse_scores(q, d))
  theirs = (scipy_sparse.csr_matrix(q) @ scipy_sparse.csr_matrix(d).T
            ).toarray()
  np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-6)
  np.testing.assert_array_equal(np.argsort(-ours, 1, kind="stable")[:, :10],
                                np.argsort(-theirs, 1, kind="stable")[:, :10])


def test_bad_input_is_named():
  logits, mask = _logits(8)
  with pytest.raises(ValueError, match="activation"):
    sparse.splade_pool(logits, mask, activation="gelu")
  with pytest.raises(ValueError, match="mask"):
    sparse.splade_pool(logits, mask[:, :2])
  with pytest.raises(ValueError, match="k must"):
    sparse.topk_mask(logits, 0)
  with pytest.raises(ValueError, match="k must"):
    sparse.topk_mask(logits, 12)
  with pytest.raises(ValueError, match="ids"):
    sparse.bow(logits[..., 0], mask, vocab_size=3)
  with pytest.raises(ValueError, match="vocabulary"):
    sparse.sparse_scores(logits[:, 0], logits[:, 0, :5])
  with pytest.raises(ValueError, match="d_keep"):
    sparse.sparse_scores(logits[:, 0], logits[:, 0], None, mask)


@pytest.mark.parametrize("activation", list(sparse.ACTIVATIONS))
def test_vocab_pool_values_and_gradients_match_the_reference(activation):
  rng = np.random.default_rng(9)
  states = rng.normal(size=(3, 5, 8)).astype(np.float32)
  vocab = rng.normal(size=(13, 8)).astype(np.float32)
  mask = np.arange(5)[None] < np.array([5, 2, 0])[:, None]
  g = rng.normal(size=(3, 13)).astype(np.float32)
  ours = sparse.vocab_pool(states, mask, vocab, activation=activation)
  ref = sparse.vocab_pool_reference(states, mask, vocab,
                                    activation=activation)
  np.testing.assert_allclose(ours, ref, rtol=1e-5, atol=1e-6)

  def loss(fn):
    return lambda s, v: jnp.sum(g * fn(s, mask, v, activation=activation))

  got = jax.grad(loss(sparse.vocab_pool), argnums=(0, 1))(states, vocab)
  want = jax.grad(loss(sparse.vocab_pool_reference), argnums=(0, 1))(
      states, vocab)
  for a, b in zip(got, want):
    np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
