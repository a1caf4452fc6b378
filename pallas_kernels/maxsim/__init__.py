"""MaxSim (late-interaction) scoring: a Pallas kernel and its launcher."""

from pallas_kernels.maxsim.kernel import BlockSizes
from pallas_kernels.maxsim.launcher import compiler_params, maxsim_scores

__all__ = ["BlockSizes", "compiler_params", "maxsim_scores"]
