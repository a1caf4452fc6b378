"""The zoo: linen modules for each paper, and the registry of systems.

    from zoo import build, registry
    model = build("simvq")
    registry.systems()          # every paper's record, found in zoo/<family>/
"""

from zoo import registry
from zoo.registry import build

__all__ = ["build", "registry"]
