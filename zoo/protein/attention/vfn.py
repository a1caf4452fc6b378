"""Vector field attention (VFN, Mao et al., ICLR 2024), the `vfn` kind.

Each residue predicts P query points q_i and P value points v_i (local
coordinates) from LN(s_i). For every pair (i query, j key), j's value
points are moved into i's frame, v_{j->i} = T_i^-1 T_j v_j; `VecLinear`
mixes the 2P vectors [v_{j->i}; q_i] into P (channel mixing per xyz, no
bias, so it commutes with rotations), plus the residual v_{j->i}: the
vector field f_ij [P, 3], invariant to a global transform. Its lengths go
through a learnable Gaussian basis (K per point) and a Linear to g_ij; the
VFN bias is MLP((g + Lin z_ij + Lin s_i + Lin s_j) / 2) per head. Logits:
scalar q.k + pair bias + VFN bias - softplus(w_h) |x_i - x_j|^2 (x: CA in
nm), scaled by 1/sqrt(4). Output: the shared invariant output with the
heads' aggregated vector fields sum_j a_hij f_ij as value points; g_ij goes
on to the edge transition.

Ours ([recon]; the paper's code was not read here): P points shared by the
heads, K = 3 basis functions per point with means from linspace(0, 1.5)
nm and widths 0.5 nm, MLP width = g's width, ReLU.
"""

import dataclasses

import flax.linen as nn
import jax
from jax import numpy as jnp

from zoo.protein import rigid
from zoo.protein.attention import (
  FrameAttentionConfig,
  dense,
  invariant_output,
  masked_softmax,
  pair_bias,
  scalar_qkv,
  softplus_inverse,
)


@dataclasses.dataclass(frozen=True)
class VFNAttentionConfig(FrameAttentionConfig):
  """Attributes (beyond heads, head_dim):

    points: P, query and value points per residue.
    basis: K, Gaussian basis functions per vector length.
    field_dim: width of g_ij and of the bias MLP.
  """

  kind = "vfn"
  points: int = 4
  basis: int = 3
  field_dim: int = 16

  def __post_init__(self):
    super().__post_init__()
    for name in ("points", "basis", "field_dim"):
      if getattr(self, name) < 1:
        raise ValueError(f"attention.{name} must be >= 1, got "
                         f"{getattr(self, name)}")

  def module(self, single_dim: int, name: str) -> nn.Module:
    return VFNAttention(self, single_dim, name=name)


class VecLinear(nn.Module):
  """Bias-free channel mixing of vectors: [..., C_in, 3] -> [..., C_out, 3].

  The same weights act on x, y and z, so VecLinear(R v) = R VecLinear(v).
  """

  features: int

  @nn.compact
  def __call__(self, vectors: jax.Array) -> jax.Array:
    kernel = self.param(
        "kernel", nn.with_logical_partitioning(
            nn.initializers.lecun_normal(in_axis=0, out_axis=1),
            (None, None)),
        (vectors.shape[-2], self.features))
    return jnp.einsum("...cx,cd->...dx", vectors, kernel)


class GaussianBasis(nn.Module):
  """Lengths [..., P] -> [..., P * K], exp(-(d - mu)^2 / (2 sigma^2)) with a
  learnable mean and width per point and basis function (nm)."""

  basis: int

  @nn.compact
  def __call__(self, lengths: jax.Array) -> jax.Array:
    p = lengths.shape[-1]
    means = self.param(
        "means", lambda _, shape: jnp.broadcast_to(
            jnp.linspace(0.0, 1.5, self.basis), shape), (p, self.basis))
    log_widths = self.param(
        "log_widths", lambda _, shape: jnp.full(shape, jnp.log(0.5)),
        (p, self.basis))
    scaled = (lengths[..., None] - means) / jnp.exp(log_widths)
    return jnp.exp(-0.5 * scaled**2).reshape(*lengths.shape[:-1], -1)


class VFNAttention(nn.Module):
  """(s, z, frames, mask) -> (s update, g [B, L, L, field_dim], weights)."""

  cfg: VFNAttentionConfig
  single_dim: int

  @nn.compact
  def __call__(self, s, z, frames: rigid.Rigid, mask):
    cfg = self.cfg
    b, length = s.shape[:2]
    qk, v = scalar_qkv(s, cfg.heads, cfg.head_dim)
    normed = nn.LayerNorm(name="point_norm")(s)
    q_pts = dense(cfg.points * 3, "query_points")(normed).reshape(
        b, length, cfg.points, 3)
    v_pts = dense(cfg.points * 3, "value_points")(normed).reshape(
        b, length, cfg.points, 3)
    rel = rigid.relative(frames)  # [B, L, L]: T_i^-1 T_j
    moved = jnp.einsum("bijxy,bjpy->bijpx", rel.rot, v_pts)
    moved = moved + rel.trans[:, :, :, None, :]  # v_{j->i} [B, L, L, P, 3]
    stacked = jnp.concatenate(
        [moved, jnp.broadcast_to(q_pts[:, :, None], moved.shape)], -2)
    field = VecLinear(cfg.points, name="vec_linear")(stacked) + moved
    lengths = jnp.sqrt(jnp.sum(field**2, -1) + 1e-8)  # [B, L, L, P]
    g = dense(cfg.field_dim, "field")(
        GaussianBasis(cfg.basis, name="basis")(lengths))
    s_bias = dense(cfg.field_dim, "bias_single")(s)
    hidden = (g + dense(cfg.field_dim, "bias_pair")(z)
              + s_bias[:, :, None] + s_bias[:, None, :]) / 2
    hidden = nn.relu(dense(cfg.field_dim, "bias_hidden")(hidden))
    vfn_bias = jnp.moveaxis(dense(cfg.heads, "bias_out")(hidden), -1, 1)
    distance_weight = nn.softplus(self.param(
        "distance_weight",
        lambda _, shape: jnp.full(shape, softplus_inverse(1.0)),
        (cfg.heads,)))
    sq_dist = jnp.sum((frames.trans[:, :, None] - frames.trans[:, None])**2,
                      -1)
    distance = -distance_weight[:, None, None] * sq_dist[:, None]
    weights = masked_softmax([qk, pair_bias(z, cfg.heads), vfn_bias,
                              distance], mask)
    points = jnp.einsum("bhij,bijpx->bihpx", weights, field)
    update = invariant_output(weights, v, z, points, self.single_dim)
    return update, g, weights
