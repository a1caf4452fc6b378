"""The encoder-decoder SLM's record (Mu): encoder 2/3 of the parameters,
decoder 1/3 with cross-attention to fixed encoder states; the model is
`zoo.lm.encdec`, the distillation task `train.tasks.seq2seq_kd`."""

from zoo import registry
from zoo.lm import encdec

SYSTEM = registry.System(
    name="encdec_slm",
    family="arch",
    paper="Mu: an encoder-decoder small language model for on-device "
          "inference",
    summary="Bidirectional encoder read once per request, a causal decoder "
            "cross-attending to its fixed states (KV cache grows with the "
            "output only), distilled from a decoder-only teacher.",
    default_config=encdec.EncDecConfig,
    builder=encdec.build,
    configs=("train.configs.encdec_slm:get_config",),
    task="train.tasks.seq2seq:TASK",
    claim="eval.claims.encdec_slm:check",
    datasets=("train.data.builders.digit_frequency:DigitFrequency",),
)
