"""PEARL (Liu et al., 2024).

Inference only (`ops.decoding.pearl`, on `ops.decoding.speculative`): a
draft model and the target run at the same time every round; the target
verifies the first draft token before drafting ends (pre-verify) and the
draft keeps drafting while the target verifies the last drafts
(post-verify), so the draft length adapts to how long the draft stays
right. Greedy output unchanged, and the target's distribution when
sampling.
"""

from zoo import registry

SYSTEM = registry.System(
    name="pearl",
    family="decoding",
    paper="PEARL: Parallel Speculative Decoding with Adaptive Draft Length",
    summary="Draft and target overlapped with pre-/post-verify rounds: "
            "adaptive draft lengths, lossless speculative decoding.",
    claim="eval.claims.pearl:check",
    report="eval.decoding.pearl:report",
)
