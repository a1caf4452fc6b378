"""The seed helpers of the MDM claims: block geometry and the spread."""

import numpy as np
import pytest

from eval import claims
from eval.parallelbench import seeds, sweep
from zoo.lm import diffusion


def _mdm(attention="bidirectional"):
  config = diffusion.DiffusionConfig(prompt_len=16, max_len=40, block_len=8,
                                     attention=attention)
  return diffusion.TrainedMDM(config, None, 24)


def test_with_block_len_changes_only_the_blocks():
  mdm = _mdm()
  wide = seeds.with_block_len(mdm, 24)
  assert wide.block_len == 24 and mdm.block_len == 8
  assert wide.config.decoder == mdm.config.decoder
  assert wide.gen_len == mdm.gen_len and wide.lm is mdm.lm


@pytest.mark.parametrize("attention,block", [("block_causal", 24),
                                             ("bidirectional", 7)])
def test_with_block_len_refuses(attention, block):
  with pytest.raises(ValueError, match="with_block_len"):
    seeds.with_block_len(_mdm(attention), block)


def test_over_seeds_states_mean_and_range():
  assert claims.over_seeds([1.4, 1.2, -0.1], (0, 1, 2)) == (
      "mean 0.833 over seeds 0,1,2: -0.100 to 1.400")
  assert claims.over_seeds([1.26, 1.28], (0, 1), digits=1,
                           with_mean=False) == (
      "mean over seeds 0,1: 1.3 to 1.3")


def test_points_lost_are_exact_counts():
  # 0.906 -> 0.901 and 0.912 -> 0.897 average to exactly 1 point; float
  # accuracies gave 1.0000000000000009 and failed "<= 1".
  def result(hits):
    correct = np.arange(1000) < hits
    return sweep.Result(None, correct, np.ones(1000), np.array(["copy"] * 1000),
                        24)

  lost = [result(906).points_lost_to(result(901)),
          result(912).points_lost_to(result(897))]
  assert np.mean(lost) == 1.0
