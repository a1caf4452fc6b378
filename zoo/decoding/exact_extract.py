"""Exact-extract (Castel et al., AKBC 2022).

Extractive QA by the exact most likely passage span
(`ops.decoding.exact_extract`): one teacher-forced forward over every
passage suffix, sharing the prompt's KV prefix, scores all spans, against
greedy decoding that may answer with text the passage does not hold.
"""

from zoo import registry

SYSTEM = registry.System(
    name="exact_extract",
    family="decoding",
    paper="How Optimal is Greedy Decoding for Extractive Question Answering?",
    summary="Scores every passage span (tokens + stop) in one forest-masked "
            "forward over the shared prompt cache; answers with the argmin.",
    claim="eval.claims.exact_extract:check",
    report="eval.decoding.exact_extract:report",
)
