"""The base decoder LM that the decoding systems run on."""

from zoo import registry
from zoo.lm import decoder

SYSTEM = registry.System(
    name="decoder_lm",
    family="decoding",
    paper="Base model: a RoPE (RoFormer) pre-norm decoder-only transformer "
          "with a static KV cache",
    summary="Target and draft LMs (BPE, stdlib text or code; characters "
            "of a synthetic lexicon language) for the speculative, tree, "
            "beam and look-ahead decoders.",
    default_config=decoder.DecoderConfig,
    builder=decoder.build,
    configs=("train.configs.lm:get_config",),
    task="train.tasks.lm_next_token:TASK",
    evaluators=("train.evaluators.lm_perplexity:evaluate",),
    datasets=("train.data.builders.stdlib_text:StdlibText",
              "train.data.builders.stdlib_bpe:StdlibTextBpe",
              "train.data.builders.stdlib_bpe:StdlibCodeBpe",
              "train.data.builders.lexicon_text:LexiconText"),
)
