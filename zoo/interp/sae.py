"""Sparse autoencoders: a dictionary of unit-norm directions for activations.

    sae = SAE(SAEConfig(d_in=64, width=512, activation="topk", k=16))
    x_hat, f, pre = sae.apply(variables, x)          # x [B, d]
    loss, terms = sae_loss(sae.config, SAEOutput(x_hat, f, pre), x,
                           variables["sae_stats"]["inactive"])

The encoder is pre = ReLU((x - b_dec) W_enc [+ b_enc]) and the code f keeps
some of pre, by `activation`:

  - "relu": all of it (the vanilla SAE, trained with an L1 penalty);
  - "topk": the k largest per row; "batchtopk": the k·B largest over the
    batch (`ops.sparse.topk_mask`, `ops.sparse_codes.batch_topk_mask`);
  - "jumprelu": entries above a learned per-latent threshold
    (`ops.sparse_codes.jumprelu`, with an optional L0 penalty);
  - "top_afa": the k* largest, k* per row chosen so the code's decoded norm
    matches ||x - b_dec|| (`ops.sparse_codes.top_afa_mask`).

TopK, BatchTopK and top-AFA have no encoder bias (as their reference code).
The decoder x_hat = f W_dec + b_dec keeps unit-norm rows: `unit_norm_decoder`
wraps any optax optimizer to drop each row's parallel gradient part and
renormalise after the update. Latents that fired in none of the last
`dead_after` batches are dead; AuxK reconstructs the (detached) residual
from the `aux_k` largest dead pre-activations, so they get gradient.
"""

import dataclasses
import math
import typing

import flax.linen as nn
import jax
import optax
from jax import numpy as jnp

from ops.sparse import topk_mask
from ops.sparse_codes import (
    batch_topk_mask,
    heaviside,
    jumprelu,
    top_afa_mask,
)
from zoo.errors import ConfigError

ACTIVATIONS = ("relu", "topk", "batchtopk", "jumprelu", "top_afa")
B_DEC_INITS = ("zeros", "mean", "geometric_median")
STATS = "sae_stats"


@dataclasses.dataclass(frozen=True)
class SAEConfig:
  """Attributes:

    d_in: width of the activations.
    width: number of latents W.
    activation: one of `ACTIVATIONS`.
    k: latents per row for "topk" (on average for "batchtopk"); the other
      activations ignore it.
    l1: coefficient of the mean L1 norm of the code.
    l0: coefficient of the mean L0 norm ("jumprelu", through its
      threshold's pseudo-gradient).
    aux_k: dead latents AuxK may use; 0 turns AuxK off.
    aux_penalty: AuxK's weight (1/32 in the reference code).
    dead_after: batches without firing after which a latent is dead.
    afa_coeff: weight of (||f|| - ||x||)^2, top-AFA's norm-matching term.
    bandwidth: the rectangle kernel's width ("jumprelu").
    threshold_init: initial threshold ("jumprelu").
    b_dec_init: "zeros", or the first batch's mean or geometric median
      (`init_b_dec`).
  """

  d_in: int = 64
  width: int = 512
  activation: typing.Literal[ACTIVATIONS] = "topk"
  k: int = 32
  l1: float = 0.0
  l0: float = 0.0
  aux_k: int = 512
  aux_penalty: float = 1 / 32
  dead_after: int = 5
  afa_coeff: float = 0.0
  bandwidth: float = 1e-3
  threshold_init: float = 1e-3
  b_dec_init: typing.Literal[B_DEC_INITS] = "zeros"

  def __post_init__(self):
    if self.activation not in ACTIVATIONS:
      raise ConfigError(f"SAEConfig: activation must be one of "
                        f"{ACTIVATIONS}, got {self.activation!r}")
    if self.b_dec_init not in B_DEC_INITS:
      raise ConfigError(f"SAEConfig: b_dec_init must be one of "
                        f"{B_DEC_INITS}, got {self.b_dec_init!r}")
    if self.d_in < 1 or self.width < 2:
      raise ConfigError(f"SAEConfig: need d_in >= 1 and width >= 2, got "
                        f"{self.d_in} and {self.width}")
    uses_k = self.activation in ("topk", "batchtopk")
    if self.k < 1 or (uses_k and self.k > self.width):
      raise ConfigError(f"SAEConfig: k must be in [1, width={self.width}], "
                        f"got {self.k}")
    if self.aux_k < 0 or self.dead_after < 1:
      raise ConfigError(f"SAEConfig: need aux_k >= 0 and dead_after >= 1, "
                        f"got {self.aux_k} and {self.dead_after}")
    for name in ("l1", "l0", "aux_penalty", "afa_coeff", "bandwidth",
                 "threshold_init"):
      value = getattr(self, name)
      if not (math.isfinite(value) and value >= 0):
        raise ConfigError(f"SAEConfig: {name} must be a finite number >= 0, "
                          f"got {value}")

  @property
  def encoder_bias(self) -> bool:
    return self.activation in ("relu", "jumprelu")


class SAEOutput(typing.NamedTuple):
  x_hat: jax.Array  # [B, d] reconstruction
  f: jax.Array  # [B, W] sparse code
  pre: jax.Array  # [B, W] non-negative pre-activations


def unit_rows(w: jax.Array) -> jax.Array:
  return w / jnp.linalg.norm(w, axis=-1, keepdims=True)


class SAE(nn.Module):
  """The autoencoder; see the module docstring."""

  config: SAEConfig

  def setup(self):
    cfg = self.config
    self.W_enc = self.param("W_enc", nn.initializers.kaiming_uniform(),
                            (cfg.d_in, cfg.width))
    self.W_dec = self.param("W_dec", lambda _: unit_rows(self.W_enc.T))
    self.b_dec = self.param("b_dec", nn.initializers.zeros, (cfg.d_in,))
    if cfg.encoder_bias:
      self.b_enc = self.param("b_enc", nn.initializers.zeros, (cfg.width,))
    if cfg.activation == "jumprelu":
      self.log_threshold = self.param(
          "log_threshold", nn.initializers.constant(
              math.log(cfg.threshold_init)), (cfg.width,))
    # Steering and encoding need only the params: no stats, no counting.
    if (self.is_mutable_collection(STATS)
        or self.has_variable(STATS, "inactive")):
      self.inactive = self.variable(STATS, "inactive", jnp.zeros,
                                    (cfg.width,), jnp.int32)

  def _check(self, x):
    if x.shape[-1] != self.config.d_in:
      raise ValueError(f"SAE: activations of width {x.shape[-1]}, but the "
                       f"SAE reads d_in={self.config.d_in}")

  def pre_activations(self, x):
    """x [B, d] -> [B, W] ReLU((x - b_dec) W_enc [+ b_enc])."""
    self._check(x)
    pre = (x - self.b_dec) @ self.W_enc
    return jax.nn.relu(pre + self.b_enc if self.config.encoder_bias else pre)

  def _code(self, x, pre):
    cfg = self.config
    if cfg.activation == "relu":
      return pre
    if cfg.activation == "jumprelu":
      return jumprelu(pre, jnp.exp(self.log_threshold), cfg.bandwidth)
    if cfg.activation == "topk":
      keep = topk_mask(pre, cfg.k)
    elif cfg.activation == "batchtopk":
      keep = batch_topk_mask(pre, cfg.k)
    else:
      keep, _ = top_afa_mask(pre, jnp.linalg.norm(self.W_dec, axis=-1),
                             jnp.linalg.norm(x - self.b_dec, axis=-1))
    return jnp.where(keep, pre, 0.0)

  def encode(self, x):
    """x [B, d] -> the sparse code f [B, W]."""
    return self._code(x, self.pre_activations(x))

  def decode(self, f):
    """f [B, W] -> x_hat [B, d]."""
    return f @ self.W_dec + self.b_dec

  def __call__(self, x) -> SAEOutput:
    """x [B, d] -> SAEOutput; counts dead latents when "sae_stats" is
    mutable."""
    pre = self.pre_activations(x)
    f = self._code(x, pre)
    if self.is_mutable_collection(STATS) and not self.is_initializing():
      fired = (f > 0).any(0)
      self.inactive.value = jnp.where(fired, 0, self.inactive.value + 1)
    return SAEOutput(self.decode(f), f, pre)


def _aux_loss(cfg: SAEConfig, params, out: SAEOutput, x, inactive):
  """AuxK: the `aux_k` largest dead pre-activations reconstruct x - x_hat,
  detached (sparsify #57); b_dec is in x_hat already, so not added again
  (sparsify #134); the same mean as the main MSE (dictionary_learning #36).
  Skipped (0) while no latent is dead.
  """
  dead = inactive >= cfg.dead_after  # [W]

  def aux():
    scores = jnp.where(dead, out.pre, -jnp.inf)
    keep = topk_mask(scores, min(cfg.aux_k, cfg.width)) & dead
    recon = jnp.where(keep, out.pre, 0.0) @ params["W_dec"]
    residual = jax.lax.stop_gradient(x - out.x_hat)
    return jnp.mean((recon - residual) ** 2)

  return jax.lax.cond(dead.any(), aux, lambda: jnp.zeros((), x.dtype))


def sae_loss(cfg: SAEConfig, params, out: SAEOutput, x, inactive):
  """The training objective and its terms.

  Args:
    cfg: the SAE's config.
    params: its params (AuxK decodes with W_dec; JumpReLU's L0 reads the
      threshold).
    out: `SAE.__call__(x)`.
    x: [B, d] the activations.
    inactive: [W] batches since each latent fired (the "sae_stats").

  Returns:
    (scalar loss, {term: scalar}).
  """
  terms = {"mse": jnp.mean((out.x_hat - x) ** 2)}
  if cfg.l1:
    terms["l1"] = cfg.l1 * jnp.mean(jnp.sum(jnp.abs(out.f), -1))
  if cfg.l0 and cfg.activation == "jumprelu":
    gates = heaviside(out.pre, jnp.exp(params["log_threshold"]),
                      cfg.bandwidth)
    terms["l0"] = cfg.l0 * jnp.mean(jnp.sum(gates, -1))
  if cfg.aux_k:
    terms["auxk"] = cfg.aux_penalty * _aux_loss(cfg, params, out, x,
                                                inactive)
  if cfg.afa_coeff:
    # On the raw x, as the reference code (not x - b_dec).
    gap = jnp.linalg.norm(out.f, axis=-1) - jnp.linalg.norm(x, axis=-1)
    terms["afa"] = cfg.afa_coeff * jnp.mean(gap ** 2)
  return sum(terms.values()), terms


def sae_metrics(x, out: SAEOutput, inactive, dead_after: int):
  """Reconstruction and sparsity of one batch x [B, d]: nmse (sum ||x -
  x_hat||^2 over sum ||x - mean(x)||^2), explained_variance (1 - nmse),
  l0 (mean active latents per row), dead_fraction (latents idle for
  `dead_after` batches)."""
  err = jnp.sum((x - out.x_hat) ** 2)
  nmse = err / jnp.sum((x - x.mean(0)) ** 2)
  return {
      "nmse": nmse,
      "explained_variance": 1.0 - nmse,
      "l0": jnp.mean(jnp.sum(out.f > 0, -1)),
      "dead_fraction": jnp.mean(inactive >= dead_after),
  }


def decoder_coherence(params) -> dict:
  """eps_max and eps_mean: the largest and the mean off-diagonal |cosine|
  between decoder rows (of W_dec W_dec^T), top-AFA's quasi-orthogonality.
  A [W, W] product: for evaluation, not every train step."""
  rows = unit_rows(params["W_dec"])
  gram = jnp.abs(rows @ rows.T)
  off = ~jnp.eye(gram.shape[0], dtype=bool)
  return {"eps_max": jnp.max(jnp.where(off, gram, 0.0)),
          "eps_mean": jnp.sum(jnp.where(off, gram, 0.0)) / off.sum()}


def _is_decoder(path) -> bool:
  return any(getattr(k, "key", None) == "W_dec" for k in path)


def _on_decoder(fn):
  """An optax transform applying fn(update, param) to W_dec leaves."""

  def update(updates, state, params):
    return jax.tree_util.tree_map_with_path(
        lambda path, u, p: fn(u, p) if _is_decoder(path) else u,
        updates, params), state

  return optax.GradientTransformation(lambda _: optax.EmptyState(), update)


def unit_norm_decoder(tx: optax.GradientTransformation
                      ) -> optax.GradientTransformation:
  """tx, keeping every "W_dec" param's rows unit-norm: the gradient's part
  along each row is dropped before tx, and rows are renormalised after."""

  def tangent(g, w):
    u = unit_rows(w)
    return g - jnp.sum(g * u, -1, keepdims=True) * u

  def renormalise(update, w):
    return unit_rows(w + update) - w

  return optax.chain(_on_decoder(tangent), tx, _on_decoder(renormalise))


def geometric_median(x: jax.Array, iters: int = 100) -> jax.Array:
  """Weiszfeld's iterations on x [N, d] from the mean: the point
  minimising the summed distances to the rows (robust to outliers)."""

  def step(m, _):
    w = 1.0 / jnp.maximum(jnp.linalg.norm(x - m, axis=-1), 1e-8)
    return (w @ x) / w.sum(), None

  return jax.lax.scan(step, x.mean(0), None, length=iters)[0]


def init_b_dec(variables, x: jax.Array, how: str):
  """variables with b_dec set from a batch x [N, d]: "zeros" leaves it,
  "mean" or "geometric_median" centres the SAE on the data."""
  if how == "zeros":
    return variables
  centre = x.mean(0) if how == "mean" else geometric_median(x)
  params = dict(variables["params"], b_dec=centre.astype(jnp.float32))
  return dict(variables, params=params)


def build(config: SAEConfig) -> SAE:
  return SAE(config)
