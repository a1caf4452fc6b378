"""Greedy and sampled generation."""

import jax
import numpy as np
import pytest
from jax import numpy as jnp

from ops.decoding import sampling
from zoo.lm.table import TableLM


def test_greedy_equals_a_python_loop():
  lm = TableLM.random(jax.random.key(0), 13, order=3)
  prompt = jnp.array([[1, 2, 3], [4, 5, 6]])
  got = sampling.generate(lm, prompt, 9)
  assert int(got.forward_calls) == 9
  table = np.asarray(lm.logits)
  for row in range(2):
    seq = list(np.asarray(prompt[row]))
    for _ in range(9):
      seq.append(int(np.argmax(table[seq[-2], seq[-1]])))
    np.testing.assert_array_equal(got.tokens[row], seq[3:])


def test_sampling_follows_the_filtered_distribution():
  lm = TableLM(jnp.log(jnp.array([[0.5, 0.3, 0.15, 0.05]] * 4)))
  prompt = jnp.zeros((4000, 1), jnp.int32)
  out = sampling.generate(lm, prompt, 1, jax.random.key(1), temperature=1.0,
                          top_p=0.8)
  freq = np.bincount(np.asarray(out.tokens[:, 0]), minlength=4) / 4000
  np.testing.assert_allclose(freq, [0.625, 0.375, 0, 0], atol=0.03)
  out = sampling.generate(lm, prompt, 1, jax.random.key(2), temperature=1.0,
                          top_k=1)
  assert np.all(np.asarray(out.tokens) == 0)


def test_sampling_needs_a_key():
  lm = TableLM.random(jax.random.key(0), 5)
  with pytest.raises(ValueError, match="needs a key"):
    sampling.generate(lm, jnp.zeros((1, 1), jnp.int32), 2, temperature=1.0)
