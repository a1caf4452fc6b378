"""Learn2PD's filter: which positions of a block are already final.

    out = generate(model, prompt, ..., rule=UnmaskRule("filter", threshold=t),
                   learned_filter=filter, eot_truncation=True)

The filter is a two-layer MLP from the block's confidence vector (the
probability of each position's prediction; positions already decoded read
1.0) to one logit per position; a masked position is unmasked when its
sigmoid exceeds the rule's threshold, and the most confident one always is.

Its training data come from the oracle EGP ("extremely greedy parallel")
run: decoding with kind "reference" against the model's own one-token-per-
step output unmasks, at every step, every position whose prediction already
equals that output. Each step of that run gives the block's confidence
vector and, for every masked position, the label "prediction == reference".
"""

from typing import NamedTuple

import jax
from jax import numpy as jnp

from ops.decoding.diffusion import Trace


def features(confidence, masked) -> jax.Array:
  """[B, N] filter inputs: the confidence, 1.0 where already decoded."""
  return jnp.where(masked, confidence, 1.0)


class Filter(NamedTuple):
  """ReLU MLP N -> H -> N; w1 [N, H], b1 [H], w2 [H, N], b2 [N]."""

  w1: jax.Array
  b1: jax.Array
  w2: jax.Array
  b2: jax.Array

  @classmethod
  def init(cls, key, block_len: int, hidden: int | None = None) -> "Filter":
    """Glorot-uniform weights, zero biases; hidden defaults to block_len."""
    hidden = block_len if hidden is None else hidden
    k1, k2 = jax.random.split(key)
    glorot = jax.nn.initializers.glorot_uniform()
    return cls(glorot(k1, (block_len, hidden)), jnp.zeros((hidden,)),
               glorot(k2, (hidden, block_len)), jnp.zeros((block_len,)))

  @classmethod
  def constant(cls, block_len: int, logit: float) -> "Filter":
    """A filter whose every logit is `logit` (+inf: accept all; -inf: none)."""
    return cls(jnp.zeros((block_len, 1)), jnp.zeros((1,)),
               jnp.zeros((1, block_len)), jnp.full((block_len,), logit))

  def __call__(self, confidence, masked) -> jax.Array:
    """[B, N] confidence and masked -> [B, N] logits."""
    x = features(confidence, masked)
    return jax.nn.relu(x @ self.w1 + self.b1) @ self.w2 + self.b2


class FilterData(NamedTuple):
  """inputs, labels: [M, N]; weight: [M, N], 1 for a labelled position."""

  inputs: jax.Array
  labels: jax.Array
  weight: jax.Array


def egp_data(trace: Trace, reference) -> FilterData:
  """Filter examples from the Trace of a kind-"reference" run.

  Args:
    trace: `generate(..., rule=UnmaskRule("reference"), reference=reference,
      record=True).trace`.
    reference: [B, G] the reference tokens.

  Returns:
    FilterData with one row per (step, batch row) of the trace; rows of
    inactive steps have zero weight.
  """
  steps, b, n = trace.confidence.shape
  blocks = reference.reshape(b, -1, n)  # [B, G / N, N]
  target = jnp.take(blocks, trace.block, axis=1).transpose(1, 0, 2)
  labels = (trace.prediction == target).astype(jnp.float32)
  weight = (trace.masked & trace.active[..., None]).astype(jnp.float32)
  inputs = features(trace.confidence, trace.masked)
  return FilterData(*(a.reshape(steps * b, n)
                      for a in (inputs, labels, weight)))


def bce_loss(filter_: Filter, data: FilterData) -> jax.Array:
  """Weighted mean binary cross-entropy of the filter on `data`."""
  logits = filter_(data.inputs, jnp.ones_like(data.weight, jnp.bool_))
  per_position = jnp.maximum(logits, 0) - logits * data.labels + jnp.log1p(
      jnp.exp(-jnp.abs(logits)))
  return jnp.sum(per_position * data.weight) / jnp.maximum(
      jnp.sum(data.weight), 1.0)
