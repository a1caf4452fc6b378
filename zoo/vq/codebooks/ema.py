"""An EMA codebook: each code is the moving average of the vectors assigned
to it (van den Oord et al., 2017, appendix), with optional k-means init and
dead-code restarts. Collection "vq_stats": codebook, cluster_size,
cluster_sum."""

import dataclasses

import jax
from jax import numpy as jnp

from zoo.vq.codebooks import CodebookConfig, initial_codes


@dataclasses.dataclass(frozen=True)
class EMACodebook(CodebookConfig):
  """Attributes:

    decay: decay of the EMA statistics.
    kmeans_init: initialise the codes by k-means on the first batch.
    kmeans_iters: Lloyd iterations for that init.
    dead_code_threshold: codes whose EMA cluster size falls below this are
      restarted at random vectors of the batch (0 disables).
  """

  kind = "ema"
  trained_by_gradient = False
  decay: float = 0.99
  kmeans_init: bool = False
  kmeans_iters: int = 10
  dead_code_threshold: float = 0.0

  def codes(self, quantizer, num_codes, dim, z_flat):
    init = lambda: initial_codes(
        quantizer.make_rng("params"), num_codes, dim, z_flat,
        kmeans_iters=self.kmeans_iters if self.kmeans_init else 0)
    codes = quantizer.variable("vq_stats", "codebook", init)
    quantizer.variable("vq_stats", "cluster_size",
                       lambda: jnp.ones((num_codes,), jnp.float32))
    quantizer.variable("vq_stats", "cluster_sum",
                       lambda: codes.value.astype(jnp.float32))
    return codes.value

  def update(self, quantizer, z_flat, counts, one_hot):
    if not quantizer.is_mutable_collection("vq_stats"):
      return
    num_codes = counts.shape[0]
    get = lambda name: quantizer.get_variable("vq_stats", name)
    size = self.decay * get("cluster_size") + (1 - self.decay) * counts
    sums = self.decay * get("cluster_sum") + (1 - self.decay) * (
        one_hot.T @ z_flat.astype(jnp.float32))
    # Laplace smoothing keeps never-used codes finite.
    n = size.sum()
    smoothed = (size + 1e-5) / (n + num_codes * 1e-5) * n
    codes = sums / smoothed[:, None]
    if self.dead_code_threshold > 0:
      dead = size < self.dead_code_threshold
      pick = jax.random.randint(quantizer.make_rng("restart"), (num_codes,),
                                0, z_flat.shape[0], jnp.int32)
      replacement = z_flat[pick].astype(jnp.float32)
      codes = jnp.where(dead[:, None], replacement, codes)
      sums = jnp.where(dead[:, None], replacement, sums)
      size = jnp.where(dead, 1.0, size)
    quantizer.put_variable("vq_stats", "cluster_size", size)
    quantizer.put_variable("vq_stats", "cluster_sum", sums)
    quantizer.put_variable("vq_stats", "codebook",
                           codes.astype(get("codebook").dtype))
