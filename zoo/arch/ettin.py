"""Ettin's record: paired encoders and decoders from one ModernBERT
recipe; the model is `zoo.lm.ettin` (built as the encoder by default, the
decoder with `causal=True`)."""

from zoo import registry
from zoo.lm import ettin

SYSTEM = registry.System(
    name="ettin",
    family="arch",
    paper="Seq vs Seq: An Open Suite of Paired Encoders and Decoders",
    summary="One ModernBERT recipe (alternating local/global attention, "
            "two RoPE bases, GeGLU, bias-free LayerNorm) trained as an MLM "
            "encoder and as a causal decoder, and each continued with the "
            "other's objective.",
    default_config=ettin.EttinConfig,
    builder=ettin.build,
    configs=("train.configs.ettin:get_config",),
    task="train.tasks.mlm:TASK",
    claim="eval.claims.ettin:check",
    datasets=("train.data.builders.stdlib_bpe:StdlibTextBpe",
              "train.data.builders.stdlib_docstring_package:"
              "StdlibDocstringPackage"),
)
