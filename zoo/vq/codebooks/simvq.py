"""SimVQ (Zhu et al., 2024): a frozen random codebook C seen through one
trained linear layer, C W^T + b, so every code moves at every step.

Collections: "frozen" (C, drawn N(0, 1/d) once) and "params" (the linear
layer `code_transform`, with a bias as in the paper's code).
"""

import dataclasses

import flax.linen as nn

from zoo import registry
from zoo.vq import autoencoder
from zoo.vq.codebooks import CodebookConfig, initial_codes
from zoo.vq.quantizer import QuantizerConfig


@dataclasses.dataclass(frozen=True)
class SimVQCodebook(CodebookConfig):
  """Attributes:

    bias: the linear layer has a bias (as in the paper's code).
  """

  kind = "simvq"
  bias: bool = True

  def codes(self, quantizer, num_codes, dim, z_flat):
    del z_flat  # a random codebook: no data-dependent init
    frozen = quantizer.variable(
        "frozen", "codebook",
        lambda: initial_codes(quantizer.make_rng("params"), num_codes,
                              dim)).value
    return nn.Dense(frozen.shape[-1], use_bias=self.bias,
                    name="code_transform")(frozen)


SYSTEM = registry.System(
    name="simvq",
    family="vq",
    paper="Addressing Representation Collapse in Vector Quantized Models "
          "with One Linear Layer (SimVQ)",
    summary="Frozen random codebook seen through one trained linear layer, "
            "so every code moves each step.",
    default_config=lambda: autoencoder.VQAutoencoderConfig(
        quantizer=QuantizerConfig(codebook=SimVQCodebook())),
    builder=autoencoder.build,
    configs=("train.configs.simvq:get_config",),
    task="train.tasks.vq_autoencoder:TASK",
    evaluators=("train.evaluators.vq_reconstruction:evaluate",),
    claim="eval.claims.simvq:check",
    datasets=("train.data.builders.digits:Digits",),
)
