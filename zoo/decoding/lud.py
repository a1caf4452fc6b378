"""LUD: Lexical Unit Decoding (Sun et al., LREC-COLING 2024).

A decoder LM fine-tuned (`train.tasks.lud`, `train/configs/lud.py`) to
predict spans it is confident about from placeholder inputs, then decoded
with look-ahead steps (`ops.decoding.lud`): one forward gives the next token
and the confident prefix of the m tokens after it.
"""

from zoo import registry
from zoo.lm import decoder

SYSTEM = registry.System(
    name="lud",
    family="decoding",
    paper="Decoding at the Speed of Thought: Harnessing Parallel Decoding "
          "of Lexical Units for LLMs",
    summary="Fine-tunes the text LM on lexical units (confident spans read "
            "from placeholders); look-ahead decoding accepts the confident "
            "span each forward.",
    default_config=decoder.DecoderConfig,
    builder=decoder.build,
    configs=("train.configs.lud:get_config",),
    task="train.tasks.lud:TASK",
    evaluators=("train.evaluators.lm_perplexity:evaluate",),
    claim="eval.claims.lud:check",
    report="eval.decoding.lud:report",
    datasets=("train.data.builders.stdlib_bpe:StdlibTextBpe",),
)
