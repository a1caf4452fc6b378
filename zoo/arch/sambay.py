"""SambaY's record: the decoder-hybrid-decoder of Phi-4-mini-flash; the
model is `zoo.lm.sambay`, its pieces `zoo.lm.mamba`, `zoo.lm.gmu`,
`zoo.layers.sliding` and `ops.ssm`."""

from zoo import registry
from zoo.lm import sambay

SYSTEM = registry.System(
    name="sambay",
    family="arch",
    paper="Decoder-Hybrid-Decoder Architecture for Efficient Reasoning with "
          "Long Generation",
    summary="Samba self-decoder, one full-attention layer whose KV is "
            "shared, and gated memory units reading a Mamba layer's scan "
            "output in place of half the cross-attention.",
    default_config=sambay.SambaYConfig,
    builder=sambay.build,
    configs=("train.configs.sambay:get_config",),
    task="train.tasks.lm_masked_next_token:TASK",
    claim="eval.claims.sambay:check",
    datasets=("train.data.builders.mqar:Mqar",),
)
