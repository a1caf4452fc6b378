"""LocalLeap: local determinism propagation for dLLM decoding.

Inference only: `ops.decoding.diffusion.generate` with the rule kind
"localleap" (`ops.decoding.unmask`). Masked positions whose confidence
reaches the threshold are anchors; within `radius` positions of an anchor
a relaxed threshold suffices, so confident neighbourhoods are decoded
together, in fewer steps than the plain threshold rule.
"""

from zoo import registry

SYSTEM = registry.System(
    name="localleap",
    family="decoding",
    paper="Accelerating Diffusion LLM Inference via Local Determinism "
          "Propagation (LocalLeap)",
    summary="Anchors above the confidence threshold relax it for their "
            "neighbours: fewer diffusion steps at the same accuracy.",
    claim="eval.claims.localleap:check",
    datasets=("train.data.builders.parallelbench_lists:ParallelbenchLists",),
)
