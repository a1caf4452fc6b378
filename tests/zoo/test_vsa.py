"""MAP-bipolar VSA (`zoo.interp.vsa`): binding inverts exactly, random
codes are near-orthogonal, a key unbound from a bundle of two bound pairs
finds its value, cleanup is the brute-force argmax with its exclusions,
bundling is the majority with fixed tie-breaks, and sizes must match."""

import jax
import numpy as np
import pytest
from jax import numpy as jnp

from zoo.interp import vsa


def test_unbind_inverts_bind_exactly():
  a, b = vsa.random_codebook(jax.random.key(1), 2, 4096)
  np.testing.assert_array_equal(vsa.unbind(vsa.bind(a, b), a), b)
  assert set(np.unique(np.asarray(a))) == {-1.0, 1.0}


def test_random_codes_are_near_orthogonal():
  codes = vsa.random_codebook(jax.random.key(2), 1000, 4096)
  cos = np.asarray(codes @ codes.T) / 4096
  np.fill_diagonal(cos, 0.0)
  # The expected maximum of 499,500 |N(0, 1/4096)| is about 0.078.
  assert np.abs(cos).max() < 0.1


def test_a_key_unbound_from_two_bundled_pairs_finds_its_value():
  codebook = vsa.random_codebook(jax.random.key(3), 1000, 4096)
  ties = vsa.tie_breaker(4096)
  pick = jax.vmap(lambda k: jax.random.choice(k, 1000, (4,), replace=False))
  items = pick(jax.random.split(jax.random.key(4), 200))   # [200, 4]
  codes = codebook[items]
  memory = vsa.bundle(vsa.bind(codes[:, 0::2], codes[:, 1::2]), ties)
  found, _ = vsa.cleanup(vsa.unbind(memory, codes[:, 0]), codebook)
  assert np.mean(np.asarray(found) == np.asarray(items[:, 1])) >= 0.99


def test_cleanup_is_the_brute_force_argmax_with_exclusions():
  rng = np.random.default_rng(5)
  codebook = jnp.asarray(rng.normal(size=(64, 32)), jnp.float32)
  x = jnp.asarray(rng.normal(size=(3, 40, 32)), jnp.float32)
  exclude = jnp.asarray(rng.integers(-1, 64, (3, 40, 5)), jnp.int32)
  cos = np.einsum("bnd,kd->bnk", x, codebook) / (
      np.linalg.norm(x, axis=-1)[..., None]
      * np.linalg.norm(codebook, axis=-1))
  ids, scores = vsa.cleanup(x, codebook)
  np.testing.assert_array_equal(ids, cos.argmax(-1))
  np.testing.assert_allclose(scores, cos.max(-1), atol=1e-5)
  masked = np.where(np.any(np.arange(64) == np.asarray(exclude)[..., None],
                           axis=-2), -np.inf, cos)
  ids, scores = vsa.cleanup(x, codebook, exclude)
  np.testing.assert_array_equal(ids, masked.argmax(-1))
  np.testing.assert_allclose(scores, masked.max(-1), atol=1e-5)


def test_bundle_is_the_majority_and_ties_take_the_fixed_vector():
  codes = vsa.random_codebook(jax.random.key(6), 3, 512)
  ties = vsa.tie_breaker(512)
  majority = np.sign(np.asarray(codes).sum(0))
  np.testing.assert_array_equal(vsa.bundle(codes, ties), majority)
  np.testing.assert_array_equal(
      vsa.bundle(jnp.stack([codes[0], -codes[0]]), ties), ties)
  two = vsa.bundle(codes[:2], ties)
  agree = np.asarray(codes[0] == codes[1])
  np.testing.assert_array_equal(np.asarray(two)[agree],
                                np.asarray(codes[0])[agree])
  np.testing.assert_array_equal(np.asarray(two)[~agree],
                                np.asarray(ties)[~agree])


def test_decode_answer_finds_the_unknown_concept_of_exact_bundles():
  codebook = vsa.random_codebook(jax.random.key(7), 100, 1024)
  ties = vsa.tie_breaker(1024)
  rng = np.random.default_rng(8)
  items = np.stack([rng.choice(100, 4, replace=False) for _ in range(50)])
  codes = codebook[items]
  memory = vsa.bundle(vsa.bind(codes[:, 0::2], codes[:, 1::2]), ties)
  found, _ = vsa.decode_answer(memory, jnp.asarray(items[:, :3]), codebook)
  np.testing.assert_array_equal(found, items[:, 3])


def test_sizes_must_match():
  a = jnp.ones((4, 64))
  for fn in (vsa.bind, vsa.unbind):
    with pytest.raises(ValueError, match="sizes differ: 64 and 32"):
      fn(a, jnp.ones((32,)))
  with pytest.raises(ValueError, match="sizes differ"):
    vsa.cleanup(a, jnp.ones((10, 32)))
  with pytest.raises(ValueError, match="exclude"):
    vsa.cleanup(a, jnp.ones((10, 64)), jnp.zeros((4, 10), jnp.int32))
