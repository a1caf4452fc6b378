"""Diverse Beam Search (Vijayakumar et al., 2016/2018).

Inference only (`ops.decoding.diverse_beam`): the beam budget splits into
groups that choose in turn at every step, each penalised for tokens that
earlier groups just chose (Hamming diversity), with one batched forward over
all beams per step. Plain beam search (`ops.decoding.beam`) is its one-group
case and the claim's baseline.
"""

from zoo import registry

SYSTEM = registry.System(
    name="diverse_beam",
    family="decoding",
    paper="Diverse Beam Search: Decoding Diverse Solutions from Neural "
          "Sequence Models",
    summary="Beam groups chosen in turn with a Hamming diversity penalty: "
            "more varied lists than beam search for the same budget.",
    claim="eval.claims.diverse_beam:check",
    report="eval.decoding.diverse_beam:report",
)
