"""VFN's record: vector field attention over residue frames.

The model is `zoo.protein.frame_net.FrameNet` with the `vfn` attention kind
(`zoo.protein.attention.vfn`); its baseline is the same network with the
`ipa_lite` kind. Data: `peptide_backbones`, ideal synthetic backbones (the
claims are about the mechanism on synthetic data, not on PDB proteins).
"""

from zoo import registry
from zoo.protein import frame_net

SYSTEM = registry.System(
    name="vfn",
    family="arch",
    paper="De novo Protein Design Using Geometric Vector Field Networks (VFN)",
    summary="Vector field attention over residue frames (VecLinear on "
            "virtual atoms moved between frames) vs IPA-lite, on synthetic "
            "ideal peptide backbones: H/E/C labels and frame denoising.",
    default_config=frame_net.FrameNetConfig,
    builder=frame_net.build,
    configs=("train.configs.vfn:get_config",),
    task="train.tasks.frame_denoise:TASK",
    evaluators=("train.evaluators.frame_net:evaluate",),
    claim="eval.claims.vfn:check",
    datasets=("train.data.builders.peptide_backbones:PeptideBackbones",),
)
