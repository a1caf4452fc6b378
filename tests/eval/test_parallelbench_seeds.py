"""The seed helpers of the MDM claims: block geometry and the spread."""

import pytest

from eval.parallelbench import seeds
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


def test_spread_states_mean_and_range():
  assert seeds.spread([1.2, 1.4], (0, 1)) == (
      "mean 1.300 over seeds 0,1: 1.200-1.400")
