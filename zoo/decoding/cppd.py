"""CPPD: a parallel decoder for text recognition, against an AR decoder.

The model lives in `zoo.vision.cppd` (the autoregressive baseline in
`zoo.vision.ar_decoder`, on the same encoder); `zoo.vision.cppd.recognize`
reads images with either.
"""

from zoo import registry
from zoo.vision import cppd
from zoo.vision.recognition import RecognizerConfig

registry.register(registry.System(
    name="cppd",
    family="decoding",
    paper="Context Perception Parallel Decoder for Scene Text Recognition "
          "(CPPD)",
    default_config=RecognizerConfig,
    builder=cppd.build,
    configs=("cppd.py", "cppd_ar.py"),
    task="cppd",
    claim="eval.claims.cppd:check",
    summary="One decoder pass per line image: slot queries read the visual "
            "tokens, trained with character counting and ordering side "
            "losses.",
))
