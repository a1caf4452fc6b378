"""Momentum Decoding (Lian et al., 2022).

Inference only (`ops.decoding.momentum`): greedy decoding over the top-k
candidates, each resisted in proportion to how long a repeated n-gram it
would complete in the context; one forward per token, like greedy.
"""

from zoo import registry

SYSTEM = registry.System(
    name="momentum",
    family="decoding",
    paper="Momentum Decoding: Open-ended Text Generation As Graph "
          "Exploration",
    summary="Greedy with a resistance to completing repeated n-grams "
            "(soft on 4-grams, hard on 5-grams) at greedy's cost.",
    claim="eval.claims.momentum:check",
    report="eval.decoding.momentum:report",
)
