"""Future Token Prediction's record; the model is `zoo.lm.ftp`."""

from zoo import registry
from zoo.lm import ftp

SYSTEM = registry.System(
    name="ftp",
    family="decoding",
    paper="Future Token Prediction: Causal Language Modelling with Per-Token "
          "Semantic State Vector for Multi-Token Prediction",
    summary="A causal encoder's state at t, projected to pseudo-tokens, is "
            "decoded by a small transformer into the next N tokens.",
    default_config=ftp.FTPConfig,
    builder=ftp.build,
    configs=("train.configs.ftp:get_config",),
    task="train.tasks.future_tokens:TASK",
    claim="eval.claims.ftp:check",
    datasets=("train.data.builders.stdlib_bpe:StdlibTextBpe",
              "train.data.builders.stdlib_docstring_package:"
              "StdlibDocstringPackage"),
)
