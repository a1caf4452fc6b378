"""ADED, Adaptive Draft-Verification (Liu et al., 2024).

Inference only (`ops.decoding.aded`): a trigram table, counted from a
corpus and updated with every trigram the target produces, stands in for
the target; a fixed budget of PUCT-guided simulations grows a draft tree in
it, verified in one target forward (`ops.decoding.tree_decode`). Greedy
output, unchanged.
"""

from zoo import registry

SYSTEM = registry.System(
    name="aded",
    family="decoding",
    paper="Adaptive Draft-Verification for Efficient Large Language Model "
          "Decoding",
    summary="Draft trees searched in a trigram model of the target that "
            "adapts to its outputs; verified in one forward, lossless.",
    claim="eval.claims.aded:check",
    report="eval.decoding.aded:report",
)
