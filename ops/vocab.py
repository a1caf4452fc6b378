"""Vocabulary reduction: everything a decoder reads off a row of logits.

One pass over the vocabulary per row gives the log-normaliser, the argmax,
the top-k, the confidence (probability of the argmax), the margin (top-1
minus top-2 probability), the entropy, and the log-probability of given
tokens. Decoding strategies read these instead of materialising softmaxes.

Ties in argmax and top-k break to the lowest token id, in every
implementation. A NaN logit ranks, and is reported in `top_logits`, as -inf:
it never beats a real logit, and it makes the row's logsumexp, confidence,
margin and entropy NaN. The Pallas kernels ("pallas", "interpret") stream
each row of logits once (k <= 32); the token log-probabilities are a gather
of the given logits minus the log-normaliser. Their gradient is the
reference's, recomputed in the backward pass.
"""

import functools
from typing import NamedTuple

import jax
import numpy as np
from jax import numpy as jnp

from ops import _dispatch
from ops._sharding import shard_batch


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


def _top_slots(vocab: int, k: int) -> int:
  """Top entries to compute: k, and at least 2 for the margin."""
  return max(k, 2) if vocab > 1 else 1


def _assemble(lse, top_logits, top_ids, entropy, token_logprob,
              k: int) -> VocabStats:
  """VocabStats from the reduced quantities ([..., slots] top lists)."""
  top_ids = top_ids.astype(jnp.int32)
  probs = jnp.exp(top_logits - lse[..., None])
  second = probs[..., 1] if probs.shape[-1] > 1 else jnp.zeros_like(lse)
  return VocabStats(
      logsumexp=lse, argmax=top_ids[..., 0], top_logits=top_logits[..., :k],
      top_ids=top_ids[..., :k], confidence=probs[..., 0],
      margin=probs[..., 0] - second, entropy=entropy,
      token_logprob=token_logprob)


def _top_two(x):
  """`lax.top_k(x, 2)` from two max passes (top_k is slow on XLA:CPU).

  Ties go to the lowest id, as in top_k, also when every remaining entry
  is -inf.
  """
  first = jnp.argmax(x, axis=-1)
  ids = jnp.arange(x.shape[-1])
  rest = jnp.where(ids == first[..., None], -jnp.inf, x)
  second = jnp.argmax(rest, axis=-1)
  # All-(-inf) rest: argmax found the masked slot; take the lowest other id.
  second = jnp.where(second == first, jnp.where(first == 0, 1, 0), second)
  top_ids = jnp.stack([first, second], axis=-1)
  return jnp.take_along_axis(x, top_ids, -1), top_ids


def vocab_reduce_reference(logits, *, k=1, tokens=None) -> VocabStats:
  """The statistics in f32 with jnp; see `vocab_reduce`."""
  x = logits.astype(jnp.float32)
  lse = jax.nn.logsumexp(x, axis=-1)
  slots = _top_slots(x.shape[-1], k)
  ranked = jnp.where(jnp.isnan(x), -jnp.inf, x)
  top_logits, top_ids = (_top_two(ranked) if slots == 2 else
                         jax.lax.top_k(ranked, slots))
  logp = x - lse[..., None]
  p = jnp.exp(logp)
  entropy = -jnp.sum(jnp.where(p > 0, p * logp, 0.0), axis=-1)
  # p > 0 drops NaN too; a NaN logit (hence lse) makes the entropy NaN.
  entropy = jnp.where(jnp.isnan(lse), jnp.nan, entropy)
  token_logprob = None
  if tokens is not None:
    token_logprob = jnp.take_along_axis(logp, tokens.astype(jnp.int32), -1)
  return _assemble(lse, top_logits, top_ids, entropy, token_logprob, k)


def _kernel_stats(logits, k, tokens, interpret) -> VocabStats:
  """The Pallas kernel over rows, split over the mesh's batch axes."""
  backend = jax.default_backend()
  if not interpret and backend not in ("gpu", "tpu"):
    raise NotImplementedError(
        f"the 'pallas' kernel runs on GPU or TPU, not {backend!r}; use "
        "'interpret' on CPU")
  # Imported here: pallas_kernels must not load at `import ops`.
  from pallas_kernels import vocab_reduce as kernels  # noqa: PLC0415

  lead, vocab = logits.shape[:-1], logits.shape[-1]
  kernel = functools.partial(kernels.vocab_stats,
                             k=_top_slots(vocab, k), interpret=interpret)
  lse, entropy, top_logits, top_ids = jax.tree.map(
      lambda a: a.reshape(lead + a.shape[1:]),
      shard_batch(kernel, (logits.reshape(-1, vocab),), in_axes=(0,),
                  out_axes=0))
  token_logprob = None
  if tokens is not None:
    picked = jnp.take_along_axis(logits, tokens.astype(jnp.int32), -1)
    token_logprob = picked.astype(jnp.float32) - lse[..., None]
  return _assemble(lse, top_logits, top_ids, entropy, token_logprob, k)


@functools.partial(jax.custom_vjp, nondiff_argnums=(1, 3))
def _vocab_reduce_kernel(logits, k, tokens, interpret) -> VocabStats:
  return _kernel_stats(logits, k, tokens, interpret)


def _vocab_reduce_kernel_fwd(logits, k, tokens, interpret):
  return _kernel_stats(logits, k, tokens, interpret), (logits, tokens)


def _vocab_reduce_kernel_bwd(k, interpret, residuals, g):
  """The reference's gradient, recomputed: a Pallas call has none."""
  del interpret
  logits, tokens = residuals
  _, vjp = jax.vjp(
      lambda x: vocab_reduce_reference(x, k=k, tokens=tokens), logits)
  tokens_cotangent = (None if tokens is None
                      else np.zeros(tokens.shape, jax.dtypes.float0))
  return vjp(g)[0], tokens_cotangent


_vocab_reduce_kernel.defvjp(_vocab_reduce_kernel_fwd,
                            _vocab_reduce_kernel_bwd)


def vocab_reduce(logits, *, k: int = 1, tokens=None,
                 implementation=None) -> VocabStats:
  """Reduces logits [..., V] over the vocabulary in one pass.

  Args:
    logits: [..., V] float32 or bfloat16.
    k: how many top logits and ids to return (1 <= k <= V).
    tokens: optional int [..., n]; their log-probabilities are returned.
    implementation: "xla", "pallas", "interpret" or None (per backend;
      ZOO_IMPL overrides); see `ops._dispatch`.

  Returns:
    VocabStats.
  """
  if tokens is not None:
    tokens = jnp.asarray(tokens)
  _validate(logits, k, tokens)
  kernel = lambda interpret: lambda: _vocab_reduce_kernel(
      logits, k, tokens, interpret)
  return _dispatch.call("vocab_reduce", {
      "xla": lambda: vocab_reduce_reference(logits, k=k, tokens=tokens),
      "pallas": kernel(False),
      "interpret": kernel(True),
  }, implementation)
