"""The `tokfsm` walks and the transition accuracy measured on them."""

import numpy as np

from train.data.builders import tokfsm
from train.evaluators import fsm_transitions


def test_machine_and_walks_follow_the_recipe():
  fsm = tokfsm.generate()
  r = fsm.recipe
  assert fsm.successors.shape == (r.num_states, r.num_edges)
  for row in fsm.successors:  # distinct successors per state
    assert len(set(row.tolist())) == r.num_edges
  assert fsm.train_walks.shape == (r.num_train, r.states_per_walk)
  assert fsm.test_walks.shape == (r.num_test, r.states_per_walk)
  walks = np.concatenate([fsm.train_walks, fsm.test_walks])
  assert fsm.transitions[walks[:, :-1], walks[:, 1:]].all()
  # Uniform choice among the 4 successors: each edge about 1/4 of the time.
  taken = walks[:, :-1] == 3
  after = walks[:, 1:][taken]
  share = np.array([(after == t).mean() for t in fsm.successors[3]])
  np.testing.assert_allclose(share, 0.25, atol=0.02)
  again = tokfsm.generate()
  np.testing.assert_array_equal(again.train_walks, fsm.train_walks)
  np.testing.assert_array_equal(again.successors, fsm.successors)


def test_tokens_are_bos_and_two_digits_per_state():
  fsm = tokfsm.generate()
  walks = fsm.test_walks[:5]
  tokens = tokfsm.encode(walks)
  assert tokens.shape == (5, fsm.recipe.length) == (5, 65)
  assert (tokens[:, 0] == 1).all()  # BOS
  digits = tokens[:, 1:] - tokfsm.DIGIT_0
  np.testing.assert_array_equal(digits[:, 0::2] * 10 + digits[:, 1::2], walks)
  np.testing.assert_array_equal(tokfsm.decode(tokens[:, 1:]), walks)
  bad = tokens[:, 1:].copy()
  bad[:, 3] = 2  # EOS inside state 1
  assert (tokfsm.decode(bad)[:, 1] == -1).all()


def test_transition_accuracy_of_true_and_broken_walks():
  fsm = tokfsm.generate()
  tokens = tokfsm.encode(fsm.test_walks[:50])[:, 1:]
  assert fsm_transitions.transition_accuracy(tokens, fsm) == 1.0
  rng = np.random.default_rng(0)
  noise = rng.integers(tokfsm.DIGIT_0, tokfsm.DIGIT_0 + 10, tokens.shape)
  states = tokfsm.decode(noise)
  ok = (states[:, :-1] < 20) & (states[:, 1:] < 20)
  want = np.mean(ok & fsm.transitions[np.minimum(states[:, :-1], 19),
                                      np.minimum(states[:, 1:], 19)])
  assert fsm_transitions.transition_accuracy(noise, fsm) == want
