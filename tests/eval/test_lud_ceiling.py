"""LUD's precondition measure: a perfect look-ahead's forwards per token."""

import numpy as np
from jax import numpy as jnp

from eval.decoding.lud import ceiling_forwards_per_token


def brute_force(confidence, beta, max_len):
  """Walks each row: a token joins the previous one's forward when it is
  beta-sure and that forward has decided fewer than max_len tokens."""
  out = []
  for row in confidence:
    forwards, run = 0, 0
    for i, c in enumerate(row):
      if i > 0 and c >= beta and run < max_len:
        run += 1
      else:
        forwards, run = forwards + 1, 1
    out.append(forwards / len(row))
  return np.asarray(out)


def test_ceiling_counts_the_forwards_of_a_perfect_lookahead():
  rng = np.random.default_rng(0)
  for max_len in (1, 3, 5):
    confidence = rng.uniform(size=(6, 40)) ** 0.3
    got = ceiling_forwards_per_token(jnp.asarray(confidence), 0.8, max_len)
    np.testing.assert_allclose(got, brute_force(confidence, 0.8, max_len),
                               rtol=1e-6)


def test_ceiling_extremes():
  sure, unsure = jnp.ones((2, 20)), jnp.zeros((2, 20))
  np.testing.assert_allclose(ceiling_forwards_per_token(sure, 0.9, 5), 0.2)
  np.testing.assert_allclose(ceiling_forwards_per_token(unsure, 0.9, 5), 1.0)
