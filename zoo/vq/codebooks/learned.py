"""The classic VQ-VAE codebook: a parameter trained by the codebook loss."""

import dataclasses

import flax.linen as nn

from zoo import sharding
from zoo.vq.codebooks import CodebookConfig, initial_codes


@dataclasses.dataclass(frozen=True)
class LearnedCodebook(CodebookConfig):
  """Attributes:

    kmeans_init: initialise the codes by k-means on the first batch.
    kmeans_iters: Lloyd iterations for that init.
  """

  kind = "learned"
  kmeans_init: bool = False
  kmeans_iters: int = 10

  def codes(self, quantizer, num_codes, dim, z_flat):
    iters = self.kmeans_iters if self.kmeans_init else 0
    init = lambda key, data: initial_codes(key, num_codes, dim, data,
                                           kmeans_iters=iters)
    return quantizer.param("codebook", nn.with_logical_partitioning(
        init, (sharding.CODES, sharding.CODE_DIM)), z_flat)
