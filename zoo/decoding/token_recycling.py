"""Token Recycling (Luo et al., 2024).

Inference only (`ops.decoding.token_recycling`): the target's top-k
predictions at every input, normally thrown away, fill an adjacency matrix
`[V, 8]`; a static 80-node tree is drafted from it by breadth-first gathers
and verified in one target forward (`ops.decoding.tree_decode`). Greedy
output, unchanged; the matrix is kept across prompts.
"""

from zoo import registry

SYSTEM = registry.System(
    name="token_recycling",
    family="decoding",
    paper="Turning Trash into Treasure: Accelerating Inference of Large "
          "Language Models with Token Recycling",
    summary="Draft trees from the target's own recycled top-k successors, "
            "verified in one forward: lossless, train-free, < 2 MB.",
    claim="eval.claims.token_recycling:check",
    report="eval.decoding.token_recycling:report",
)
