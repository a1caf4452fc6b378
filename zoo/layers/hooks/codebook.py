"""The kind "codebook": Codebook Features' codebook layers at the sites.

Defined with the layer, in `zoo.vq.codebook_features`; importing it here
registers the kind with this package.
"""

from zoo.vq.codebook_features import CodebookHooks

__all__ = ["CodebookHooks"]
