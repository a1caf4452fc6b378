"""ops.losses.dice_loss against the formula in float64, its limits
(perfect and disjoint masks, both empty), broadcasting and bad input."""

import numpy as np
import pytest

from ops.losses import dice_loss


def _hand_dice(logits, labels, smooth=1.0):
  p = 1.0 / (1.0 + np.exp(-logits.astype(np.float64)))
  return 1.0 - (2 * (p * labels).sum(-1) + smooth) / (
      p.sum(-1) + labels.sum(-1) + smooth)


@pytest.mark.parametrize("shape", [(1,), (5, 7), (2, 3, 64)])
def test_dice_loss_is_the_formula(shape):
  rng = np.random.default_rng(len(shape))
  logits = rng.normal(size=shape).astype(np.float32) * 3
  labels = rng.uniform(size=shape).astype(np.float32)
  np.testing.assert_allclose(dice_loss(logits, labels),
                             _hand_dice(logits, labels), rtol=1e-5)
  np.testing.assert_allclose(dice_loss(logits, labels, smooth=0.5),
                             _hand_dice(logits, labels, 0.5), rtol=1e-5)


def test_dice_loss_limits_and_broadcasting():
  target = np.array([1, 1, 0, 0, 1], np.float32)
  assert float(dice_loss(60 * (2 * target - 1), target)) < 1e-6
  assert float(dice_loss(-60 * (2 * target - 1), target)) > 0.7
  assert float(dice_loss(np.full(5, -60.0), np.zeros(5))) == 0.0
  rng = np.random.default_rng(0)
  logits = rng.normal(size=(4, 1, 9))
  labels = rng.uniform(size=(1, 3, 9))
  pair = dice_loss(logits, labels)  # pairwise costs [4, 3]
  assert pair.shape == (4, 3)
  np.testing.assert_allclose(pair[2, 1], _hand_dice(logits[2, 0],
                                                    labels[0, 1]), rtol=1e-5)


def test_dice_loss_refuses_bad_input():
  with pytest.raises(ValueError, match="need one last"):
    dice_loss(np.zeros((2, 3)), np.zeros((2, 4)))
  with pytest.raises(ValueError, match="smooth must be > 0"):
    dice_loss(np.zeros(3), np.zeros(3), smooth=0.0)
