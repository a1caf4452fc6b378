"""PEARL: exactly the target's distribution at temperature 1, adaptive
draft lengths, and the same result on two devices (its greedy equality is
tested with plain speculative decoding's, in test_speculative.py)."""

import math

import jax
import numpy as np
import pytest

from ops.decoding.pearl import (
    cost_model,
    pearl_generate,
    pearl_generate_two_devices,
)
from tests.ops.decoding.test_speculative import (
    assert_follows_target,
    random_prompts,
    table_pair,
)


@pytest.mark.parametrize("temperature", [0.0, 1.0])
def test_a_draft_equal_to_the_target_stays_in_post_verify(temperature):
  target, _ = table_pair(2)
  gamma, new_tokens = 4, 17
  prompts = random_prompts(2, 8, 3, target.vocab_size)
  key = jax.random.key(3) if temperature else None
  out = pearl_generate(target, target, prompts, new_tokens, key, gamma=gamma,
                       temperature=temperature)
  # The prefill gives 1 token, one pre-verify round 1, then gamma a round.
  rounds = 1 + math.ceil((new_tokens - 2) / gamma)
  np.testing.assert_array_equal(out.rounds, rounds)
  np.testing.assert_array_equal(out.rejections, 0)
  np.testing.assert_array_equal(out.accepted, 1 + gamma * (rounds - 1))


def test_sampling_follows_the_target_distribution():
  assert_follows_target(pearl_generate)


def test_two_devices_give_the_single_device_result():
  target, draft = table_pair(3)
  prompts = random_prompts(3, 8, 3, target.vocab_size)
  args = (target, draft, prompts, 17, jax.random.key(4))
  options = dict(gamma=4, temperature=1.0)
  one = pearl_generate(*args, **options)
  two = pearl_generate_two_devices(*args, **options,
                                   devices=jax.devices()[:2])
  assert one.rejections.sum() > 0
  for a, b in zip(one, two):
    np.testing.assert_array_equal(a, b)


def test_cost_model():
  # c = 0.1, gamma = 5: a PEARL round costs 1, a plain round 1.5.
  cost = cost_model(100, speculative_rounds=30, pearl_rounds=40, gamma=5,
                    draft_cost=0.1)
  assert cost.speculative == pytest.approx(1 + 30 * 1.5)
  assert cost.pearl == pytest.approx(41)
  assert cost.pearl_vs_autoregressive == pytest.approx(100 / 41)
  assert cost.pearl_vs_speculative == pytest.approx(46 / 41)
  # c = 0.4: the draft's 2 target-forwards of work bound a PEARL round.
  assert cost_model(100, 30, 40, 5, 0.4).pearl == pytest.approx(81)
  with pytest.raises(ValueError, match="draft_cost"):
    cost_model(100, 30, 40, 5, 0.0)
