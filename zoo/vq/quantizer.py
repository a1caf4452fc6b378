"""Vector quantization: nearest code, losses and gradients, any codebook.

The options users expect from vector-quantize-pytorch: the straight-through
estimator or the rotation trick, commitment and codebook losses, batch
usage metrics; where the codes come from is a plug-in
(`zoo.vq.codebooks`): a learned codebook, EMA updates with k-means init and
dead-code restarts, SimVQ's frozen codebook behind a linear layer, or a new
paper's kind.
"""

import dataclasses

import flax.linen as nn
import jax
from jax import numpy as jnp

import ops
from zoo.vq.codebooks import CodebookConfig
from zoo.vq.codebooks.learned import LearnedCodebook


@dataclasses.dataclass(frozen=True)
class QuantizerConfig:
  """Quantizer hyper-parameters.

  Attributes:
    num_codes: K, the codebook size.
    codebook: the codebook kind and its own settings; a kind's tag (e.g.
      "ema") stands for its defaults.
    commitment_weight: beta on |z - sg(q)|^2.
    codebook_weight: weight on |sg(z) - q|^2, for kinds trained by gradient.
    rotation_trick: pass gradients with the rotation trick instead of the
      straight-through estimator.
  """

  num_codes: int = 512
  codebook: CodebookConfig = LearnedCodebook()
  commitment_weight: float = 0.25
  codebook_weight: float = 1.0
  rotation_trick: bool = False

  def __post_init__(self):
    if isinstance(self.codebook, str):
      object.__setattr__(self, "codebook",
                         CodebookConfig.of_kind(self.codebook)())
    if not isinstance(self.codebook, CodebookConfig):
      raise ValueError(f"quantizer.codebook must be a codebook kind's config "
                       f"(zoo.vq.codebooks), got {self.codebook!r}")
    if self.num_codes < 1:
      raise ValueError(f"quantizer.num_codes must be >= 1, got "
                       f"{self.num_codes}")


def rotate_to(z: jax.Array, q: jax.Array) -> jax.Array:
  """The rotation trick (Fifty et al., 2024): value q, gradient through z.

  Maps z onto q by the rotation taking z/|z| to q/|q| plus a rescaling, both
  treated as constants, so the gradient reaching z is rotated rather than
  copied. Vectors with |z| = 0 fall back to the straight-through estimator.
  """
  eps = 1e-12
  z_norm = jnp.linalg.norm(z, axis=-1, keepdims=True)
  q_norm = jnp.linalg.norm(q, axis=-1, keepdims=True)
  e = jax.lax.stop_gradient(z / jnp.maximum(z_norm, eps))
  q_hat = jax.lax.stop_gradient(q / jnp.maximum(q_norm, eps))
  r = e + q_hat
  r = r / jnp.maximum(jnp.linalg.norm(r, axis=-1, keepdims=True), eps)
  scale = jax.lax.stop_gradient(q_norm / jnp.maximum(z_norm, eps))
  dot = lambda a, b: jnp.sum(a * b, axis=-1, keepdims=True)
  rotated = scale * (z - 2.0 * r * dot(r, z) + 2.0 * q_hat * dot(e, z))
  return jnp.where(z_norm > eps, rotated, ops.straight_through(z, q))


class VectorQuantizer(nn.Module):
  """Quantizes [..., d] vectors to their nearest code.

  Returns (quantized, indices, aux): quantized has z's shape and carries the
  gradient to z (straight-through or rotation trick); indices are int32
  [...]; aux holds the quantizer loss and batch code-usage metrics.

  z must hold at least one vector: the loss, the usage metrics, EMA updates,
  dead-code restarts and k-means init are all statistics of the batch, and
  an empty batch (a pipeline bug, most likely) is refused with a ValueError
  rather than turned into NaN metrics or a silent no-op update.
  """

  cfg: QuantizerConfig
  dim: int  # d, the width of the vectors and codes

  @nn.compact
  def effective_codebook(self, z_flat: jax.Array | None = None) -> jax.Array:
    """The effective codebook [K, d] (SimVQ: C W^T + b).

    `z_flat` [N, d] is the data for data-dependent inits, at initialisation.
    """
    return self.cfg.codebook.codes(self, self.cfg.num_codes, self.dim, z_flat)

  def lookup(self, indices: jax.Array) -> jax.Array:
    """Codes for given indices [...] -> [..., d]: decoding from indices."""
    return jnp.take(self.effective_codebook(), indices, axis=0)

  def __call__(self, z: jax.Array, *, train: bool = False):
    cfg = self.cfg
    if z.ndim < 1 or z.shape[-1] != self.dim or z.size == 0:
      raise ValueError(f"VectorQuantizer: z must be [..., {self.dim}] (dim) "
                       f"with at least one vector, got shape {z.shape}")
    z_flat = z.reshape(-1, z.shape[-1])  # [N, d]
    codes = self.effective_codebook(z_flat)  # [K, d]
    indices = ops.vq_nearest(z_flat, jax.lax.stop_gradient(codes))[0][:, 0]
    q = jnp.take(codes, indices, axis=0)  # [N, d]
    one_hot = jax.nn.one_hot(indices, cfg.num_codes, dtype=jnp.float32)
    counts = one_hot.sum(0)

    commitment = jnp.mean((z_flat - jax.lax.stop_gradient(q)) ** 2)
    loss = cfg.commitment_weight * commitment
    if cfg.codebook.trained_by_gradient:
      loss += cfg.codebook_weight * jnp.mean(
          (jax.lax.stop_gradient(z_flat) - q) ** 2)
    if train:
      cfg.codebook.update(self, z_flat, counts, one_hot)

    q_out = (rotate_to(z_flat, q) if cfg.rotation_trick
             else ops.straight_through(z_flat, q))
    probs = counts / z_flat.shape[0]
    entropy = -jnp.sum(probs * jnp.log(jnp.where(probs > 0, probs, 1.0)))
    aux = {
        "loss": loss,
        "commitment": commitment,
        "perplexity": jnp.exp(entropy),
        "batch_usage": jnp.mean(counts > 0),
    }
    return q_out.reshape(z.shape), indices.reshape(z.shape[:-1]), aux
