"""Qwen2 checkpoints (`Qwen2ForCausalLM`): Llama's layout and names, with
biases on the query, key and value projections only.

Sliding-window attention (`use_sliding_window`) is refused: the decoder
attends to the whole context.
"""

import dataclasses

from zoo.errors import CheckpointError
from zoo.lm.families.llama import Llama


@dataclasses.dataclass(frozen=True)
class Qwen2(Llama):
  kind = "qwen2"
  architectures = ("Qwen2ForCausalLM",)
  model_type = "qwen2"

  def biases(self, hf):
    hf.require("use_sliding_window", False, False)
    return {"qkv_bias": True, "out_bias": False}

  def mlp_bias(self, hf):
    return False

  def bias_keys(self, config):
    block = config.block
    if (block.qkv_bias, block.out_bias, block.mlp.bias) != (True, False,
                                                            False):
      raise CheckpointError("a Qwen2 checkpoint has biases on the query, key "
                            "and value projections and nowhere else")
    return {"use_sliding_window": False}
