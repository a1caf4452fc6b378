"""Vocabulary reduction: everything a decoder reads off a row of logits.

One pass over the vocabulary per row gives the log-normaliser, the argmax,
the top-k, the confidence (probability of the argmax), the margin (top-1
minus top-2 probability), the entropy, and the log-probability of given
tokens. Decoding strategies read these instead of materialising softmaxes.

Ties in argmax and top-k break to the lowest token id, in every
implementation.
"""

from typing import NamedTuple

import jax
from jax import numpy as jnp

from ops import _dispatch


class VocabStats(NamedTuple):
  """Per-row statistics of logits [..., V]; every field is f32 unless noted.

  Attributes:
    logsumexp: [...] log of the softmax normaliser.
    argmax: [...] int32, most likely token (lowest id on ties).
    top_logits: [..., k] the k largest logits, descending.
    top_ids: [..., k] int32 their token ids.
    confidence: [...] probability of the argmax.
    margin: [...] top-1 minus top-2 probability (the top-1 probability when
      k == 1 or V == 1).
    entropy: [...] entropy of the softmax, in nats.
    token_logprob: [..., n] log-probability of `tokens`, or None.
  """

  logsumexp: jax.Array
  argmax: jax.Array
  top_logits: jax.Array
  top_ids: jax.Array
  confidence: jax.Array
  margin: jax.Array
  entropy: jax.Array
  token_logprob: jax.Array | None


def _validate(logits, k, tokens):
  if logits.ndim < 1 or logits.shape[-1] == 0:
    raise ValueError(f"vocab_reduce: logits must be [..., V] with V > 0, got "
                     f"shape {logits.shape}")
  if not jnp.issubdtype(logits.dtype, jnp.floating):
    raise ValueError(f"vocab_reduce: logits must be floating, got "
                     f"{logits.dtype}")
  if not 1 <= k <= logits.shape[-1]:
    raise ValueError(f"vocab_reduce: k must be in [1, V={logits.shape[-1]}], "
                     f"got {k}")
  if tokens is not None and (
      tokens.shape[:-1] != logits.shape[:-1]
      or not jnp.issubdtype(tokens.dtype, jnp.integer)):
    raise ValueError(f"vocab_reduce: tokens must be int [..., n] with leading "
                     f"shape {logits.shape[:-1]}, got {tokens.dtype}"
                     f"{list(tokens.shape)}")


def vocab_reduce_reference(logits, *, k=1, tokens=None) -> VocabStats:
  """The statistics in f32 with jnp; see `vocab_reduce`."""
  x = logits.astype(jnp.float32)
  lse = jax.nn.logsumexp(x, axis=-1)
  top_logits, top_ids = jax.lax.top_k(x, max(k, 2) if x.shape[-1] > 1 else 1)
  top_ids = top_ids.astype(jnp.int32)
  probs = jnp.exp(top_logits - lse[..., None])
  second = probs[..., 1] if probs.shape[-1] > 1 else jnp.zeros_like(lse)
  logp = x - lse[..., None]
  p = jnp.exp(logp)
  entropy = -jnp.sum(jnp.where(p > 0, p * logp, 0.0), axis=-1)
  token_logprob = None
  if tokens is not None:
    token_logprob = jnp.take_along_axis(logp, tokens.astype(jnp.int32), -1)
  return VocabStats(
      logsumexp=lse, argmax=top_ids[..., 0], top_logits=top_logits[..., :k],
      top_ids=top_ids[..., :k], confidence=probs[..., 0],
      margin=probs[..., 0] - second, entropy=entropy,
      token_logprob=token_logprob)


def vocab_reduce(logits, *, k: int = 1, tokens=None,
                 implementation=None) -> VocabStats:
  """Reduces logits [..., V] over the vocabulary in one pass.

  Args:
    logits: [..., V] float32 or bfloat16.
    k: how many top logits and ids to return (1 <= k <= V).
    tokens: optional int [..., n]; their log-probabilities are returned.
    implementation: see `ops._dispatch`.

  Returns:
    VocabStats.
  """
  if tokens is not None:
    tokens = jnp.asarray(tokens)
  _validate(logits, k, tokens)
  return _dispatch.call("vocab_reduce", {
      "xla": lambda: vocab_reduce_reference(logits, k=k, tokens=tokens),
  }, implementation)
