"""Superposed Decoding (Shen et al., NeurIPS 2024).

k drafts from one autoregressive pass (`ops.decoding.superposed`): each step
feeds the score-weighted superposition of the drafts' last-token
embeddings through ONE cache row, and an n-gram model counted from the
training corpus (`ops.decoding.ngram`) tells the drafts apart. Nothing is
trained: it decodes the target LM as it is.
"""

from zoo import registry

SYSTEM = registry.System(
    name="superposed",
    family="decoding",
    paper="Superposed Decoding: Multiple Generations from a Single "
          "Autoregressive Inference Pass",
    summary="k drafts for the cost of one greedy pass: superposed input "
            "embeddings, shared top-k, per-draft n-gram smoothing, beam "
            "bookkeeping.",
    claim="eval.claims.superposed:check",
    report="eval.decoding.superposed:report",
)
