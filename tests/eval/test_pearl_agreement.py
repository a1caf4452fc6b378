"""PEARL's precondition measure: per-position draft acceptance equals
drafting for real from every start of the greedy path."""

import jax
import numpy as np
from jax import numpy as jnp

from eval.decoding.pearl import draft_agreement
from ops.decoding.sampling import generate
from zoo.lm.table import TableLM

V, P, T, GAMMA = 6, 3, 40, 4


def test_rates_match_drafting_from_every_start():
  keys = jax.random.split(jax.random.key(2), 3)
  shape = (V + 1, V, V)  # trigram tables
  target = TableLM(jax.random.normal(keys[0], shape))
  draft = TableLM(target.logits + 0.3 * jax.random.normal(keys[1], shape))
  prompts = jax.random.randint(keys[2], (8, P), 0, V)
  greedy = np.asarray(generate(target, prompts, T).tokens)
  rates = draft_agreement(draft, prompts, greedy, GAMMA)
  # Brute force: the k-th draft of a round counts where the k - 1 before
  # it were accepted; a rate is accepted / counted.
  sequences = np.concatenate([np.asarray(prompts), greedy], axis=1)
  counted, kept = np.zeros(GAMMA), np.zeros(GAMMA)
  logits = np.asarray(draft.logits)
  for row in sequences:
    for t in range(T):
      prev, token = row[P + t - 2], row[P + t - 1]
      for k in range(min(GAMMA, T - t)):
        prev, token = token, int(np.argmax(logits[prev, token]))
        counted[k] += 1
        if token != row[P + t + k]:
          break
        kept[k] += 1
  np.testing.assert_allclose(rates, kept / counted)
  assert all(0 < rate < 1 for rate in rates)


def test_a_draft_equal_to_the_target_is_always_accepted():
  target = TableLM(jax.random.normal(jax.random.key(1), (V, V)))
  prompts = jnp.zeros((2, P), jnp.int32)
  greedy = generate(target, prompts, T).tokens
  assert draft_agreement(target, prompts, greedy, GAMMA) == [1.0] * GAMMA
