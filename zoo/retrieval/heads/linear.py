"""ColBERT's projection: one bias-free linear map, y = W x."""

import dataclasses

from zoo import sharding
from zoo.retrieval.heads import HeadConfig, dense


@dataclasses.dataclass(frozen=True)
class LinearHead(HeadConfig):
  kind = "linear"

  def project(self, x, input_dim):
    del input_dim
    return dense(self.out_dim, (sharding.EMBED, None), "linear",
                 bias=False)(x)
