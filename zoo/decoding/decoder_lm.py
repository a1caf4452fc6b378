"""The base decoder LM that the decoding systems run on."""

from zoo import registry
from zoo.lm import decoder

registry.register(registry.System(
    name="decoder_lm",
    family="decoding",
    paper="Base model: a RoPE (RoFormer) pre-norm decoder-only transformer "
          "with a static KV cache",
    default_config=decoder.DecoderConfig,
    builder=decoder.build,
    configs=("lm.py",),
    task="lm_next_token",
    evaluators=("lm_perplexity",),
    summary="Target and draft LMs (BPE, stdlib text or code) for the "
            "speculative, tree, beam and look-ahead decoders.",
))
