"""Momentum Decoding (Lian et al., 2022).

Inference only (`ops.decoding.momentum`): greedy decoding over the top-k
candidates, each resisted in proportion to how long a repeated n-gram it
would complete in the context; one forward per token, like greedy.
"""

from zoo import registry

registry.register(registry.System(
    name="momentum",
    family="decoding",
    paper="Momentum Decoding: Open-ended Text Generation As Graph "
          "Exploration",
    claim="eval.claims.momentum:check",
    summary="Greedy with a resistance to completing repeated n-grams "
            "(soft on 4-grams, hard on 5-grams) at greedy's cost.",
))
