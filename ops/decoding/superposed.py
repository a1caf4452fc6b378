"""Superposed Decoding: k drafts for the cost of one autoregressive pass.

    drafts = superposed_decode(lm, prompt, max_new_tokens=32, ngrams=table)
    drafts.tokens  # [B, k, T], best draft first

All k drafts of a prompt share ONE cache row. Each step feeds a single
position per prompt, the superposition sum_d w_d E[last token of draft d]
with w = softmax(draft scores) (drafts ending in the same token add their
weights). The one next-token distribution p (at `temperature`) is shared:
each draft keeps its `n_token_sample` most likely tokens, smooths them
geometrically with an n-gram model of its own suffix, log q_d(v) = (1 - a)
log p(v) + a log p_ngram(v | draft d), and the k best (draft, token)
extensions by cumulative score survive, beam style. A draft whose n-gram
probability is 0 for every candidate keeps (1 - a) log p - 200 instead. The
prefill forward gives the first step, whose k drafts are the k best tokens.
So T new tokens cost T forward calls of batch B, whatever k.

Drafts have a fixed length T, like `sampling.generate`: EOS is an ordinary
token and callers cut at it.
"""

import functools
from typing import NamedTuple

import jax
from jax import numpy as jnp

from ops.attention import write_rows
from ops.decoding import check_prompt, prefill, read_rows
from ops.decoding import ngram as ngram_lib
from ops.vocab import vocab_reduce

# Penalty for a draft whose suffix the n-gram model has never seen.
UNSEEN_PENALTY = 200.0


class Drafts(NamedTuple):
  """tokens: [B, k, T]; scores: [B, k] cumulative log q, descending;
  forward_calls: scalar int32, model forwards made (prefill included)."""

  tokens: jax.Array
  scores: jax.Array
  forward_calls: jax.Array


def superposed_embedding(lm, tokens, weights) -> jax.Array:
  """sum_d weights[:, d] E[tokens[:, d]]: [B, k] ids, [B, k] -> [B, 1, E].

  One-hot weights give the plain embedding bit for bit (x * 1 and + 0 are
  exact).
  """
  embedded = lm.embed(tokens)  # [B, k, E]
  mixed = jnp.sum(weights[..., None].astype(jnp.float32) * embedded, axis=1,
                  keepdims=True)
  return mixed.astype(embedded.dtype)


def _validate(lm, prompt, max_new_tokens, ngrams, num_drafts, n_token_sample,
              temperature, alpha, ngram_weights, prompt_lengths):
  check_prompt("superposed_decode", prompt, max_new_tokens,
               vocab_size=lm.vocab_size, prompt_lengths=prompt_lengths)
  if not 1 <= num_drafts <= n_token_sample <= lm.vocab_size:
    raise ValueError(f"superposed_decode: need 1 <= num_drafts "
                     f"({num_drafts}) <= n_token_sample ({n_token_sample}) "
                     f"<= V ({lm.vocab_size})")
  if temperature <= 0:
    raise ValueError(f"superposed_decode: temperature must be > 0, got "
                     f"{temperature}")
  if not 0 <= alpha <= 1:
    raise ValueError(f"superposed_decode: alpha must be in [0, 1], got "
                     f"{alpha}")
  if alpha > 0 and ngrams is None:
    raise ValueError("superposed_decode: alpha > 0 needs an n-gram table "
                     "(ngrams)")
  if alpha > 0 and len(ngram_weights) != ngrams.max_order - 1:
    raise ValueError(f"superposed_decode: ngram_weights has "
                     f"{len(ngram_weights)} values for orders 2.."
                     f"{ngrams.max_order}")


def superposed_decode(lm, prompt, max_new_tokens: int, ngrams=None, *,
                      num_drafts: int = 3, n_token_sample: int = 9,
                      temperature: float = 0.06, alpha: float = 0.54,
                      ngram_weights: tuple = ngram_lib.SPD_WEIGHTS,
                      prompt_lengths=None) -> Drafts:
  """Decodes `num_drafts` drafts of `max_new_tokens` tokens per prompt.

  The arguments are checked eagerly (see `ops.decoding.check_prompt`), then
  one jitted loop runs.

  Args:
    lm: a model with `embed` and `extend(..., embeddings=)` (`CachedLM`).
    prompt: [B, P] int token ids, left-padded if prompt_lengths is given.
    max_new_tokens: T.
    ngrams: an `ngram.NGramTable`, or None when alpha == 0.
    num_drafts: k.
    n_token_sample: candidate tokens per draft and step (>= k).
    temperature: of the model's next-token distribution.
    alpha: n-gram share of the geometric interpolation (0: none).
    ngram_weights: lambda_2 .. lambda_max_order of the n-gram smoothing.
    prompt_lengths: optional [B] int, each row's prompt length.

  Returns:
    Drafts.
  """
  _validate(lm, prompt, max_new_tokens, ngrams, num_drafts, n_token_sample,
            temperature, alpha, ngram_weights, prompt_lengths)
  return _superposed_decode(
      lm, prompt, max_new_tokens, ngrams, num_drafts=num_drafts,
      n_token_sample=n_token_sample, temperature=temperature, alpha=alpha,
      ngram_weights=ngram_weights, prompt_lengths=prompt_lengths)


@functools.partial(jax.jit, static_argnames=(
    "max_new_tokens", "num_drafts", "n_token_sample", "temperature", "alpha",
    "ngram_weights"))
def _superposed_decode(lm, prompt, max_new_tokens, ngrams, *, num_drafts,
                       n_token_sample, temperature, alpha, ngram_weights,
                       prompt_lengths):
  b, p = prompt.shape
  k, t = num_drafts, max_new_tokens
  prefilled = prefill("superposed_decode", lm, prompt, prompt_lengths, p + t)
  # Each draft's n-gram context reaches back before the prompt: -1 = none.
  history = ngrams.max_order - 1 if alpha > 0 else 0
  # [B]: index of each row's first new token in `sequences`.
  start = history + prefilled.lengths
  sequences = jnp.concatenate([
      jnp.full((b, k, history), -1, jnp.int32),
      jnp.broadcast_to(prefilled.tokens[:, None], (b, k, p)),
      jnp.zeros((b, k, t), jnp.int32)], axis=2)  # [B, k, history + P + T]
  # Row-wise slices of [B, k, S] along S at [B] offsets.
  read = lambda seq, at, width: jnp.swapaxes(
      read_rows(jnp.swapaxes(seq, 1, 2), at, width), 1, 2)
  write = lambda seq, new, at: jnp.swapaxes(
      write_rows(jnp.swapaxes(seq, 1, 2), jnp.swapaxes(new, 1, 2), at), 1, 2)

  def extend_drafts(logits, sequences, scores, at):
    """Appends the k best (draft, token) extensions at indices `at` [B]."""
    stats = vocab_reduce(logits / temperature, k=n_token_sample)
    logp = stats.top_logits - stats.logsumexp[:, None]  # [B, n]
    logq = jnp.broadcast_to(logp[:, None], (b, k, n_token_sample))
    if alpha > 0:
      suffix = read(sequences, at - history, history)  # [B, k, history]
      candidates = jnp.broadcast_to(stats.top_ids[:, None], logq.shape)
      logp_ngram = ngram_lib.ngram_logprobs(ngrams, suffix, candidates,
                                            ngram_weights)
      seen = jnp.any(logp_ngram > -jnp.inf, axis=-1, keepdims=True)
      logq = (1 - alpha) * logq + jnp.where(seen, alpha * logp_ngram,
                                            -UNSEEN_PENALTY)
    total = (scores[:, :, None] + logq).reshape(b, k * n_token_sample)
    scores, best = jax.lax.top_k(total, k)  # [B, k]
    parent = best // n_token_sample
    token = jnp.take_along_axis(stats.top_ids, best % n_token_sample, axis=1)
    sequences = jnp.take_along_axis(sequences, parent[:, :, None], axis=1)
    return write(sequences, token[:, :, None], at), scores

  # Only draft 0 is alive before the first step: its k best tokens win.
  scores = jnp.full((b, k), -jnp.inf).at[:, 0].set(0.0)
  sequences, scores = extend_drafts(prefilled.next_logits, sequences, scores,
                                    start)

  def step(i, carry):
    sequences, scores, cache, calls = carry
    last = read(sequences, start + i - 1, 1)[:, :, 0]  # [B, k]
    embeddings = superposed_embedding(lm, last, jax.nn.softmax(scores, -1))
    logits, cache = lm.extend(last[:, :1], cache, embeddings=embeddings)
    sequences, scores = extend_drafts(logits[:, 0], sequences, scores,
                                      start + i)
    return sequences, scores, cache, calls + 1

  sequences, scores, _, calls = jax.lax.fori_loop(
      1, t, step, (sequences, scores, prefilled.cache, jnp.int32(1)))
  return Drafts(read(sequences, start, t), scores, calls)
