"""The precision measures of Codebook Features' claim, against brute force."""

import numpy as np

from eval.claims import codebook_features as claim


def test_best_neuron_precision_tries_every_threshold():
  rng = np.random.default_rng(0)
  states = rng.integers(0, 4, 300)
  # Ties (rounded values) and one neuron that tracks state 2.
  hidden = np.round(rng.normal(size=(300, 3)), 1)
  hidden[:, 1] += 2.0 * (states == 2)
  got = claim.best_neuron_precision(hidden, states, 4)
  want = np.zeros(4)
  for neuron in hidden.T:
    for value in np.unique(neuron):
      fires = neuron >= value
      if fires.sum() >= claim.MIN_FIRINGS:
        want = np.maximum(want, [np.mean(states[fires] == s)
                                 for s in range(4)])
  np.testing.assert_allclose(got, want)
  assert got[2] > 0.9


def test_best_code_precision_counts_codes_that_fire_enough():
  rng = np.random.default_rng(1)
  states = rng.integers(0, 5, 400)
  ids = rng.integers(0, 11, 400)
  ids[states == 3] = 11  # code 11 fires on state 3 only
  ids[:5] = 12  # a rare code, exact for its state, but below 20 firings
  value, code = claim.best_code_precision(ids, states, 13, 5)
  for s in range(5):
    best = max((np.mean(states[ids == c] == s)
                for c in range(13) if (ids == c).sum() >= claim.MIN_FIRINGS),
               default=0.0)
    assert value[s] == best
  assert value[3] == 1.0 and code[3] == 11
