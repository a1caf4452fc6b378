"""The zoo: linen modules for each paper, and the registry of systems.

    from zoo import build, registry
    model = build("simvq")
"""

# Importing a family registers its systems.
from zoo import decoding, registry, retrieval, vq  # noqa: F401
from zoo.registry import build

__all__ = ["build", "registry"]
