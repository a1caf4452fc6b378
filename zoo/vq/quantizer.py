"""Vector quantizers: classic VQ-VAE (learned or EMA codebook) and SimVQ.

One module covers the options users expect from vector-quantize-pytorch:
a learned codebook trained by the codebook loss, EMA codebook updates,
k-means initialisation, dead-code restarts, the straight-through estimator
or the rotation trick; and SimVQ (Zhu et al., 2024), whose codebook is a
frozen random matrix C seen through one trainable linear layer, C W^T + b.

Collections: "params" (learned codebook, SimVQ's linear layer), "frozen"
(SimVQ's random C), "vq_stats" (EMA cluster sizes and sums, EMA codebook).
"""

import dataclasses
from typing import Literal

import flax.linen as nn
import jax
from jax import numpy as jnp

import ops
from zoo import sharding

CodebookKind = Literal["learned", "ema", "simvq"]


@dataclasses.dataclass(frozen=True)
class QuantizerConfig:
  """Quantizer hyper-parameters.

  Attributes:
    num_codes: K, the codebook size.
    codebook: "learned" (gradient of the codebook loss), "ema" (moving
      averages of assigned vectors) or "simvq" (frozen C, trained linear map).
    commitment_weight: beta on |z - sg(q)|^2.
    codebook_weight: weight on |sg(z) - q|^2 (unused with "ema").
    ema_decay: decay of the EMA statistics.
    kmeans_init: initialise the codebook by k-means on the first batch.
    kmeans_iters: Lloyd iterations for that init.
    dead_code_threshold: with "ema", codes whose EMA cluster size falls below
      this are restarted at random vectors of the batch (0 disables).
    rotation_trick: pass gradients with the rotation trick instead of the
      straight-through estimator.
    simvq_bias: SimVQ's linear layer has a bias (as in the paper's code).
  """

  num_codes: int = 512
  codebook: CodebookKind = "learned"
  commitment_weight: float = 0.25
  codebook_weight: float = 1.0
  ema_decay: float = 0.99
  kmeans_init: bool = False
  kmeans_iters: int = 10
  dead_code_threshold: float = 0.0
  rotation_trick: bool = False
  simvq_bias: bool = True

  def __post_init__(self):
    if self.codebook not in ("learned", "ema", "simvq"):
      raise ValueError(f"quantizer.codebook must be learned, ema or simvq, "
                       f"got {self.codebook!r}")
    if self.dead_code_threshold > 0 and self.codebook != "ema":
      raise ValueError("quantizer.dead_code_threshold needs codebook='ema' "
                       "(restarts rewrite the codebook outside the gradient)")
    if self.kmeans_init and self.codebook == "simvq":
      raise ValueError("quantizer.kmeans_init does not apply to simvq, whose "
                       "codebook is frozen random")


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
  """

  cfg: QuantizerConfig
  dim: int  # d, the width of the vectors and codes

  def _init_codes(self, key, z_flat):
    """Initial codes: k-means on the first batch, or N(0, 1/dim).

    Flax also calls this after initialisation, with z_flat None, to check the
    shape of the stored codebook; the random branch gives that shape.
    """
    if self.cfg.kmeans_init and z_flat is not None:
      return ops.kmeans(z_flat.astype(jnp.float32), self.cfg.num_codes, key,
                        iters=self.cfg.kmeans_iters)[0]
    return jax.random.normal(key, (self.cfg.num_codes, self.dim)) * (
        self.dim**-0.5)

  @nn.compact
  def effective_codebook(self, z_flat: jax.Array | None = None) -> jax.Array:
    """The effective codebook [K, d] (SimVQ: C W^T + b).

    `z_flat` [N, d] is the data for k-means init, at initialisation.
    """
    cfg = self.cfg
    if cfg.codebook == "learned":
      return self.param("codebook", nn.with_logical_partitioning(
          self._init_codes, (sharding.CODES, sharding.CODE_DIM)), z_flat)
    init = lambda: self._init_codes(self.make_rng("params"), z_flat)
    if cfg.codebook == "ema":
      codes = self.variable("vq_stats", "codebook", init)
      self.variable("vq_stats", "cluster_size",
                    lambda: jnp.ones((cfg.num_codes,), jnp.float32))
      self.variable("vq_stats", "cluster_sum",
                    lambda: codes.value.astype(jnp.float32))
      return codes.value
    frozen = self.variable("frozen", "codebook", init).value
    return nn.Dense(frozen.shape[-1], use_bias=cfg.simvq_bias,
                    name="code_transform")(frozen)

  def lookup(self, indices: jax.Array) -> jax.Array:
    """Codes for given indices [...] -> [..., d]: decoding from indices."""
    return jnp.take(self.effective_codebook(), indices, axis=0)

  def __call__(self, z: jax.Array, *, train: bool = False):
    cfg = self.cfg
    z_flat = z.reshape(-1, z.shape[-1])  # [N, d]
    codes = self.effective_codebook(z_flat)  # [K, d]
    indices = ops.vq_nearest(z_flat, jax.lax.stop_gradient(codes))[0][:, 0]
    q = jnp.take(codes, indices, axis=0)  # [N, d]
    one_hot = jax.nn.one_hot(indices, cfg.num_codes, dtype=jnp.float32)
    counts = one_hot.sum(0)

    commitment = jnp.mean((z_flat - jax.lax.stop_gradient(q)) ** 2)
    loss = cfg.commitment_weight * commitment
    if cfg.codebook != "ema":
      loss += cfg.codebook_weight * jnp.mean(
          (jax.lax.stop_gradient(z_flat) - q) ** 2)
    elif train and self.is_mutable_collection("vq_stats"):
      self._ema_update(z_flat, counts, one_hot)

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

  def _ema_update(self, z_flat, counts, one_hot):
    cfg = self.cfg
    decay = cfg.ema_decay
    get = lambda name: self.get_variable("vq_stats", name)
    size = decay * get("cluster_size") + (1 - decay) * counts
    sums = decay * get("cluster_sum") + (1 - decay) * (
        one_hot.T @ z_flat.astype(jnp.float32))
    # Laplace smoothing keeps never-used codes finite.
    n = size.sum()
    smoothed = (size + 1e-5) / (n + cfg.num_codes * 1e-5) * n
    codes = sums / smoothed[:, None]
    if cfg.dead_code_threshold > 0:
      dead = size < cfg.dead_code_threshold
      pick = jax.random.randint(self.make_rng("restart"), (cfg.num_codes,),
                                0, z_flat.shape[0])
      replacement = z_flat[pick].astype(jnp.float32)
      codes = jnp.where(dead[:, None], replacement, codes)
      sums = jnp.where(dead[:, None], replacement, sums)
      size = jnp.where(dead, 1.0, size)
    self.put_variable("vq_stats", "cluster_size", size)
    self.put_variable("vq_stats", "cluster_sum", sums)
    self.put_variable("vq_stats", "codebook",
                      codes.astype(get("codebook").dtype))
