"""The dependent-matmul latency model: chains count, parallel products do
not, nested calls are followed, loops are refused."""

import jax
import numpy as np
import pytest
from jax import numpy as jnp

from eval.claims import cppd as cppd_claim
from eval.decoding import critical_path
from zoo.lm import special_tokens


def _weights(n, d=8):
  keys = jax.random.split(jax.random.key(0), n)
  return [jax.random.normal(k, (d, d)) for k in keys]


@pytest.mark.parametrize("depth", [1, 3, 6])
def test_a_chain_counts_every_product(depth):
  weights = _weights(depth)

  def chain(x):
    for w in weights:
      x = jnp.tanh(x @ w)
    return x

  assert critical_path.dependent_matmuls(chain, jnp.ones((2, 8))) == depth


def test_products_side_by_side_count_once():
  a, b, c = _weights(3)
  # Three independent products, then one that reads two of them.
  fn = lambda x: (x @ a) @ (x @ b).T + x @ c @ jnp.eye(8)
  assert critical_path.dependent_matmuls(fn, jnp.ones((8, 8))) == 2


def test_nested_jit_is_followed_and_loops_refused():
  w, = _weights(1)
  inner = jax.jit(lambda x: (x @ w) @ w)
  assert critical_path.dependent_matmuls(lambda x: inner(x) @ w,
                                         jnp.ones((2, 8))) == 3
  loop = lambda x: jax.lax.fori_loop(0, 3, lambda i, y: y @ w, x)
  with pytest.raises(ValueError, match="one iteration"):
    critical_path.dependent_matmuls(loop, jnp.ones((2, 8)))


def test_flops_of_a_product():
  a = jnp.ones((4, 8))
  b = jnp.ones((8, 16))
  assert critical_path.flops(lambda x, y: x @ y, a, b) == 2 * 4 * 8 * 16


def test_steps_to_eos_counts_the_eos_slot():
  eos, pad = special_tokens.EOS, special_tokens.PAD
  tokens = np.array([[7, eos, pad, pad], [eos, pad, pad, pad],
                     [5, 6, 7, 8]])
  np.testing.assert_array_equal(cppd_claim.steps_to_eos(tokens), [2, 1, 4])
