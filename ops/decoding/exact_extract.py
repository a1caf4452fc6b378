"""Exact-extract: the most likely passage span as the answer, found exactly.

    scores = span_scores(lm, prompt, prompt_len, passage_start, passage_len,
                         max_passage_len=64, max_answer_len=4, stop_id=EOS)
    span = best_span(scores)  # argmin over every (start, length)

A decoder LM reads a prompt (passage + question) and would answer with some
tokens and a stop token. Every passage span (i, c), tokens
passage[i : i + c + 1], is scored S(i, c) = sum_{j <= c} -log p(token j) -
log p(stop after token c), all conditioned on the prompt. One teacher-forced
forward scores all spans: row i holds the passage suffix from i, truncated
to max_answer_len tokens, and the rows form a forest over the prompt's KV
prefix (the prefilled cache is shared by `take`, and each row sees the
prompt and its own causal prefix). Row i's logits at offset c give both the
next row token and the stop after c, so the N x L score table is a cumsum.
Two forward calls in all, against about L for greedy decoding.

Prompts of different lengths share one compilation: they are right-padded
to a common length P, and the cache length is reset to each prompt's own
length after the prefill (the causal prefill never lets a real token see a
pad, and the rows overwrite the pad slots). Right padding with `prompt_len`
is this scorer's own convention; the generators of `ops.decoding` take
left-padded prompts and `prompt_lengths`.
"""

import functools
from typing import NamedTuple

import jax
from jax import numpy as jnp

from ops.decoding import check_prompt, new_cache
from ops.vocab import vocab_reduce


class Span(NamedTuple):
  """start: [B] int32 offset in the passage; length: [B] int32 tokens
  (1..L); score: [B] f32, the span's S (or S / (length + 1))."""

  start: jax.Array
  length: jax.Array
  score: jax.Array


def _check(name, lm, prompt, prompt_len, new_tokens: int):
  """The shared prompt check (`ops.decoding.check_prompt`), right-padded."""
  if prompt.ndim != 2 or prompt_len.shape != prompt.shape[:1]:
    raise ValueError(f"{name}: prompt must be [B, P] and prompt_len [B], got "
                     f"shapes {prompt.shape} and {prompt_len.shape}")
  check_prompt(name, prompt, new_tokens, vocab_size=lm.vocab_size,
               prompt_lengths=prompt_len, right_padded=True)


def _prefill(name, lm, prompt, prompt_len, new_tokens: int):
  """Right-padded prompts [B, P] -> (next-token logits [B, V], cache)."""
  b, p = prompt.shape
  cache = new_cache(name, lm, b, p + new_tokens, p)
  logits, cache = lm.extend(prompt, cache)
  cache = cache.replace(length=prompt_len.astype(jnp.int32))
  last = jnp.take_along_axis(logits, (prompt_len - 1)[:, None, None], axis=1)
  return last[:, 0], cache


def span_scores(lm, prompt, prompt_len, passage_start, passage_len, *,
                max_passage_len: int, max_answer_len: int,
                stop_id: int) -> jax.Array:
  """S(i, c) of every passage span; see the module docstring.

  The arguments are checked eagerly (see `ops.decoding.check_prompt`), then
  the jitted scorer runs.

  Args:
    lm: the model (see `ops.decoding`).
    prompt: [B, P] int, right-padded prompts (passage, then question).
    prompt_len: [B] int, each prompt's true length.
    passage_start: [B] int, where the passage starts in the prompt.
    passage_len: [B] int, its length in tokens; spans starting at or after
      max_passage_len are not scored.
    max_passage_len: N.
    max_answer_len: L, the longest span scored.
    stop_id: the token that ends an answer (e.g. EOS).

  Returns:
    [B, N, L] f32: S of span passage[i : i + c + 1] at [:, i, c]; +inf where
    the span leaves the passage.
  """
  b = prompt.shape[0]
  n, length = max_passage_len, max_answer_len
  if n < 1 or length < 1:
    raise ValueError(f"span_scores: max_passage_len ({n}) and "
                     f"max_answer_len ({length}) must be >= 1")
  if passage_start.shape != (b,) or passage_len.shape != (b,):
    raise ValueError(f"span_scores: passage_start and passage_len must be "
                     f"[B={b}], got {passage_start.shape} and "
                     f"{passage_len.shape}")
  _check("span_scores", lm, prompt, prompt_len, length)
  return _span_scores(lm, prompt, prompt_len, passage_start, passage_len,
                      max_passage_len=n, max_answer_len=length,
                      stop_id=stop_id)


@functools.partial(jax.jit, static_argnames=(
    "max_passage_len", "max_answer_len", "stop_id"))
def _span_scores(lm, prompt, prompt_len, passage_start, passage_len, *,
                 max_passage_len, max_answer_len, stop_id):
  b = prompt.shape[0]
  n, length = max_passage_len, max_answer_len
  first, cache = _prefill("span_scores", lm, prompt, prompt_len, length)
  offset = jnp.arange(n)[:, None] + jnp.arange(length)  # [N, L]
  inside = offset < passage_len[:, None, None]  # [B, N, L]
  at = passage_start[:, None, None] + jnp.minimum(
      offset, passage_len[:, None, None] - 1)
  rows = jnp.take_along_axis(prompt, at.reshape(b, -1), axis=1).reshape(
      b, n, length).astype(jnp.int32)
  forest = cache.take(jnp.repeat(jnp.arange(b), n))  # [B * N] rows
  logits, _ = lm.extend(rows.reshape(b * n, length), forest)
  logits = logits.reshape(b, n, length, -1)
  stop = jnp.full((b, n, length), stop_id, jnp.int32)
  # At offset c: the row's token c + 1 (a dummy stop at the end) and stop.
  targets = jnp.stack([jnp.concatenate([rows[..., 1:], stop[..., :1]], -1),
                       stop], axis=-1)  # [B, N, L, 2]
  logp = vocab_reduce(logits, tokens=targets).token_logprob
  first_logp = vocab_reduce(first, tokens=rows[..., 0]).token_logprob
  token_logp = jnp.concatenate([first_logp[..., None], logp[..., :-1, 0]], -1)
  scores = -jnp.cumsum(token_logp, axis=-1) - logp[..., 1]
  return jnp.where(inside, scores, jnp.inf)


def best_span(scores, *, length_normalized: bool = False) -> Span:
  """The argmin span of [B, N, L] scores (ties: earliest, then shortest).

  With `length_normalized`, S(i, c) is divided by c + 2, the number of
  predicted tokens (the span and the stop).
  """
  b, _, length = scores.shape
  if length_normalized:
    scores = scores / (jnp.arange(length) + 2)
  flat = scores.reshape(b, -1)
  best = jnp.argmin(flat, axis=-1)
  return Span((best // length).astype(jnp.int32),
              (best % length + 1).astype(jnp.int32),
              jnp.take_along_axis(flat, best[:, None], 1)[:, 0])


def greedy_answer(lm, prompt, prompt_len, *, max_answer_len: int,
                  stop_id: int):
  """Greedy decoding after right-padded prompts, the comparison baseline.

  The arguments are checked eagerly (see `ops.decoding.check_prompt`), then
  one jitted loop runs.

  Args:
    lm: the model.
    prompt: [B, P] int, right-padded.
    prompt_len: [B] int true lengths.
    max_answer_len: L; L + 1 tokens are decoded, room for an L-token
      answer and its stop.
    stop_id: the token that ends an answer.

  Returns:
    ([B, L + 1] int32 greedy tokens, [B] int32 answer length: the index of
    the first stop, or L + 1 if there is none).
  """
  _check("greedy_answer", lm, prompt, prompt_len, max_answer_len + 1)
  return _greedy_answer(lm, prompt, prompt_len,
                        max_answer_len=max_answer_len, stop_id=stop_id)


@functools.partial(jax.jit, static_argnames=("max_answer_len", "stop_id"))
def _greedy_answer(lm, prompt, prompt_len, *, max_answer_len, stop_id):
  steps = max_answer_len + 1
  logits, cache = _prefill("greedy_answer", lm, prompt, prompt_len, steps)
  tokens = jnp.zeros((prompt.shape[0], steps), jnp.int32)
  tokens = tokens.at[:, 0].set(jnp.argmax(logits, -1).astype(jnp.int32))

  def step(i, carry):
    tokens, cache = carry
    logits, cache = lm.extend(
        jax.lax.dynamic_slice_in_dim(tokens, i - 1, 1, axis=1), cache)
    next_token = jnp.argmax(logits[:, 0], -1).astype(jnp.int32)
    return tokens.at[:, i].set(next_token), cache

  tokens, _ = jax.lax.fori_loop(1, steps, step, (tokens, cache))
  is_stop = tokens == stop_id
  answer_len = jnp.where(jnp.any(is_stop, -1), jnp.argmax(is_stop, -1), steps)
  return tokens, answer_len.astype(jnp.int32)
