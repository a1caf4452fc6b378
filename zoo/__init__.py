"""The zoo: linen modules for each paper, and the registry of systems.

    from zoo import build, registry
    model = build("simvq")
"""

from zoo import (
    registry,
    vq,  # noqa: F401  (registers its systems)
)
from zoo.registry import build

__all__ = ["build", "registry"]
