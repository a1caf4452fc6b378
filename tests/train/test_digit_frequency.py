"""digit_frequency: each target is its source's 5 most frequent digits in
order, with no tie through the 6th, and the decoder-only view scores
exactly the target digits."""

import numpy as np

from train.data.builders import digit_frequency as df
from zoo.lm import special_tokens


def test_targets_are_the_most_frequent_digits_in_order():
  recipe = df.Recipe(num_train=60, num_test=10)
  data = df.generate(recipe)
  assert data["train"]["source"].shape == (60, 64)
  for source, target in zip(data["train"]["source"], data["train"]["target"]):
    assert target[0] == special_tokens.BOS
    counts = np.bincount(source - df.DIGIT_0, minlength=10)
    ranked = sorted(range(10), key=lambda d: -counts[d])
    assert len(set(counts[ranked[:6]])) == 6  # no tie through the 6th
    np.testing.assert_array_equal(target[1:] - df.DIGIT_0, ranked[:5])
  again = df.generate(recipe)
  np.testing.assert_array_equal(again["test"]["source"],
                                data["test"]["source"])


def test_the_decoder_only_view_scores_the_target_digits():
  pairs = df.generate(df.Recipe(num_train=5, num_test=1))["train"]
  view = df.decoder_only(pairs)
  for tokens, mask, target in zip(view["tokens"], view["target_mask"],
                                  pairs["target"]):
    np.testing.assert_array_equal(tokens[1:][mask], target[1:])
