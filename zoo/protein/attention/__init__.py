"""Attention over residue frames, one module per kind (a plug-in slot).

A kind maps single features s [B, L, c_s], pair features z [B, L, L, c_z],
frames (`zoo.protein.rigid.Rigid`, [B, L], translations in nm) and a mask
[B, L] to (update of s [B, L, c_s], pair features for the edge transition
[B, L, L, c_e] or None, attention weights [B, H, L, L]). Kinds: `vfn`
(vector field attention) and `ipa_lite` (AlphaFold's invariant point
attention, the baseline). Both are built from the pieces here: scalar
query-key-value heads, a pair bias, the masked softmax and the invariant
output (scalar values, value points in the query's frame with their norms,
aggregated pair features, one output projection); a kind adds its geometric
logits and its value points.
"""

import abc
import dataclasses
import math

import flax.linen as nn
import jax
from jax import numpy as jnp

from zoo import sharding
from zoo.plugins import Plugin

# Added to the logits of masked keys (finite: a fully masked row stays
# finite and uniform instead of NaN).
MASKED = -1e9


@dataclasses.dataclass(frozen=True)
class FrameAttentionConfig(Plugin, abc.ABC):
  """Base of the frame-attention kinds.

  Attributes:
    heads: attention heads H.
    head_dim: width of each head's scalar query, key and value.
  """

  package = "zoo.protein.attention"
  heads: int = 4
  head_dim: int = 16

  def __post_init__(self):
    for name in ("heads", "head_dim"):
      if getattr(self, name) < 1:
        raise ValueError(f"attention.{name} must be >= 1, got "
                         f"{getattr(self, name)}")

  @abc.abstractmethod
  def module(self, single_dim: int, name: str) -> nn.Module:
    """The kind's linen module, writing updates of width `single_dim`."""


def dense(features: int, name: str, *, bias: bool = True,
          zero: bool = False) -> nn.Dense:
  """A Dense layer (kernel sharded on its output axis); `zero` starts it
  at 0."""
  kernel = (nn.initializers.zeros_init() if zero else
            nn.initializers.lecun_normal())
  return nn.Dense(
      features, use_bias=bias, name=name,
      kernel_init=nn.with_logical_partitioning(kernel, (None, sharding.MLP)),
      bias_init=nn.with_logical_partitioning(nn.initializers.zeros_init(),
                                             (sharding.MLP,)))


def scalar_qkv(s: jax.Array, heads: int, head_dim: int
               ) -> tuple[jax.Array, jax.Array]:
  """Scalar heads of s [B, L, c_s]: (q.k / sqrt(C) logits [B, H, L, L],
  values [B, L, H, C]); call inside a compact module."""
  shape = (*s.shape[:-1], heads, head_dim)
  q = dense(heads * head_dim, "q")(s).reshape(shape)
  k = dense(heads * head_dim, "k")(s).reshape(shape)
  v = dense(heads * head_dim, "v")(s).reshape(shape)
  logits = jnp.einsum("bihc,bjhc->bhij", q, k) / math.sqrt(head_dim)
  return logits, v


def pair_bias(z: jax.Array, heads: int) -> jax.Array:
  """Per-head bias from pair features: [B, L, L, c_z] -> [B, H, L, L]."""
  return jnp.moveaxis(dense(heads, "pair_bias")(z), -1, 1)


def masked_softmax(terms: list[jax.Array], mask: jax.Array) -> jax.Array:
  """softmax_j(sqrt(1 / len(terms)) * sum(terms) masked by keys' mask).

  terms: logits [B, H, L, L] each; mask [B, L] (1 keeps a residue).
  Returns weights [B, H, L, L].
  """
  logits = sum(terms) * math.sqrt(1.0 / len(terms))
  logits = jnp.where(mask[:, None, None, :] > 0, logits, MASKED)
  return jax.nn.softmax(logits, axis=-1)


def invariant_output(weights: jax.Array, v: jax.Array, z: jax.Array,
                     points: jax.Array, single_dim: int) -> jax.Array:
  """The update of s from everything the heads gathered.

  weights [B, H, L, L]; v [B, L, H, C] scalar values; z [B, L, L, c_z];
  points [B, L, H, P, 3], aggregated value points in each query's own
  frame (invariant). Returns [B, L, single_dim].
  """
  b, length = v.shape[:2]
  scalars = jnp.einsum("bhij,bjhc->bihc", weights, v).reshape(b, length, -1)
  pair = jnp.einsum("bhij,bijc->bihc", weights, z).reshape(b, length, -1)
  norms = jnp.sqrt(jnp.sum(points**2, -1) + 1e-8).reshape(b, length, -1)
  features = [scalars, pair, points.reshape(b, length, -1), norms]
  return dense(single_dim, "out")(jnp.concatenate(features, -1))


def softplus_inverse(x: float) -> float:
  """The y with softplus(y) = x (for initialising positive weights)."""
  return math.log(math.expm1(x))
