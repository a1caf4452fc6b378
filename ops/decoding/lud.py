"""Look-ahead decoding of Lexical Unit Decoding (LUD).

    out = lookahead_generate(lm, prompt, 64, placeholder=MASK, lookahead=4,
                             beta=0.9)

Each step feeds the tokens decided by the previous step followed by
`lookahead` (m) placeholder tokens, under the ordinary causal mask. The
output at the last real token is the next token, decided as greedy decoding
would; the outputs at the placeholders are m look-ahead predictions. Every
step keeps the next token and the longest prefix of the look-ahead whose
confidence (probability of the argmax) is at least `beta` and which repeats
no token immediately (a run of placeholders tends to predict one token over
and over), so a step decides 1 to m + 1 tokens for one forward.

The look-ahead tokens were predicted from placeholder inputs, so their cache
slots hold the placeholders' keys and values, not theirs: the cache keeps
only real tokens, and the tokens decided by a step are written (as inputs)
by the next one, which is also where their own predictions come from. With
`beta > 1` nothing is looked ahead and the output is exactly greedy
decoding, one forward per token.

A model fine-tuned on LUD data (`train.tasks.lud`) has learned to predict
confident spans from placeholders; other models are rarely confident about
what follows a placeholder, and then a step decides one token, as greedy.
"""

import functools
from typing import Any, NamedTuple

import jax
from jax import numpy as jnp

from ops.attention import write_rows
from ops.decoding import check_prompt, left_align, lengths_of, new_cache
from ops.vocab import vocab_reduce


class LookaheadGeneration(NamedTuple):
  """Attributes:

    tokens: [B, T] new tokens.
    forward_calls: scalar int32, batched model forwards run (prefill
      included), until every row had T tokens.
    row_forward_calls: [B] int32, forwards until each row had T tokens.
  """

  tokens: jax.Array
  forward_calls: jax.Array
  row_forward_calls: jax.Array


class _State(NamedTuple):
  """The decoding loop's carry.

  Attributes:
    out: [B, T + m] new tokens so far (slack for the last step's extra).
    num_out: [B] how many of them are decided.
    pending: [B, 1 + m] the last step's kept tokens, not yet in the cache.
    num_pending: [B] how many of `pending` were kept.
    cache: the model's cache of real tokens.
    forwards: scalar, batched forwards so far.
    row_forwards: [B] forwards while the row had fewer than T tokens.
  """

  out: jax.Array
  num_out: jax.Array
  pending: jax.Array
  num_pending: jax.Array
  cache: Any
  forwards: jax.Array
  row_forwards: jax.Array


def accept_lookahead(predictions, confidence, beta) -> jax.Array:
  """How many of a step's predictions to keep.

  Args:
    predictions: [B, 1 + m] the next token, then the m look-ahead tokens.
    confidence: [B, 1 + m] the probability of each prediction.
    beta: confidence threshold of the look-ahead tokens.

  Returns:
    [B] int32 in [1, 1 + m]: the next token is always kept, look-ahead token
    j while it and every look-ahead token before it have confidence >= beta
    and differ from the token before them.
  """
  ok = (confidence[:, 1:] >= beta) & (
      predictions[:, 1:] != predictions[:, :-1])
  return 1 + jnp.sum(jnp.cumprod(ok, axis=1), axis=1).astype(jnp.int32)


def _decide(logits, last_real, lookahead: int, beta):
  """A step's predictions and how many of them to keep.

  Args:
    logits: [B, W, V] of the step's block.
    last_real: [B] index in the block of the last real token; the m
      placeholders follow it.
    lookahead: m.
    beta: confidence threshold.

  Returns:
    ([B, 1 + m] int32 predictions, [B] int32 number kept).
  """
  at = last_real[:, None] + jnp.arange(lookahead + 1)  # [B, 1 + m]
  stats = vocab_reduce(jnp.take_along_axis(logits, at[:, :, None], axis=1))
  return stats.argmax, accept_lookahead(stats.argmax, stats.confidence, beta)


def lookahead_generate(lm, prompt, max_new_tokens: int, *, placeholder,
                       lookahead: int = 4, beta=0.9,
                       prompt_lengths=None) -> LookaheadGeneration:
  """Decodes `max_new_tokens` tokens after `prompt` with look-ahead steps.

  The arguments are checked eagerly (see `ops.decoding.check_prompt`), then
  one jitted loop runs.

  Args:
    lm: the model (see `ops.decoding`).
    prompt: [B, P] int token ids, left-padded if prompt_lengths is given.
    max_new_tokens: T.
    placeholder: the token id the model reads as "a token to predict"
      (`zoo.lm.special_tokens.MASK` for the zoo's LMs).
    lookahead: m, placeholders per step.
    beta: confidence a look-ahead token needs; above 1 gives greedy.
    prompt_lengths: optional [B] int, each row's prompt length.

  Returns:
    LookaheadGeneration.
  """
  check_prompt("lookahead_generate", prompt, max_new_tokens,
               vocab_size=lm.vocab_size, prompt_lengths=prompt_lengths)
  if lookahead < 0:
    raise ValueError(f"lookahead_generate: lookahead must be >= 0, got "
                     f"{lookahead}")
  return _lookahead_generate(lm, prompt, max_new_tokens, placeholder,
                             lookahead, beta, prompt_lengths)


@functools.partial(jax.jit, static_argnames=("max_new_tokens", "lookahead"))
def _lookahead_generate(lm, prompt, max_new_tokens, placeholder, lookahead,
                        beta, prompt_lengths):
  b, p = prompt.shape
  m = lookahead
  width = 2 * m + 1  # up to m + 1 decided tokens, then m placeholders
  placeholders = jnp.full((b, m), placeholder, jnp.int32)
  lengths = lengths_of(prompt, prompt_lengths)
  # The prefill reads each prompt and m placeholders after it.
  block = jnp.concatenate([prompt.astype(jnp.int32), placeholders], 1)
  if prompt_lengths is not None:
    block = left_align(block, lengths + m)
  cache = new_cache("lookahead_generate", lm, b, p + max_new_tokens + 2 * m,
                    p)
  logits, cache = lm.extend(block, cache)
  predictions, kept = _decide(logits, lengths - 1, m, beta)
  # The placeholders' slots are dropped: kept slots are a prefix, so
  # dropping the rest only shortens the cache.
  cache = cache.replace(length=lengths)
  zeros = jnp.zeros((b,), jnp.int32)
  # Slack: a row with fewer than T tokens may write m + 1 more.
  out = write_rows(jnp.zeros((b, max_new_tokens + m), jnp.int32), predictions,
                   zeros)

  def step(state: _State) -> _State:
    live = state.num_out < max_new_tokens
    start = state.cache.length
    block = jnp.concatenate([state.pending, placeholders], 1)  # [B, width]
    block = jnp.where(jnp.arange(width) < state.num_pending[:, None], block,
                      placeholder)
    logits, cache = lm.extend(block, state.cache)
    predictions, kept = _decide(logits, state.num_pending - 1, m, beta)
    # The pending tokens are now in the cache; finished rows keep none, so
    # their length (and the capacity they need) stays put.
    cache = cache.replace(length=start + jnp.where(live, state.num_pending,
                                                   0))
    return _State(
        out=jnp.where(live[:, None],
                      write_rows(state.out, predictions, state.num_out),
                      state.out),
        num_out=jnp.where(live, state.num_out + kept, state.num_out),
        pending=jnp.where(live[:, None], predictions, state.pending),
        num_pending=jnp.where(live, kept, state.num_pending),
        cache=cache,
        forwards=state.forwards + 1,
        row_forwards=state.row_forwards + live)

  state = jax.lax.while_loop(
      lambda state: jnp.any(state.num_out < max_new_tokens), step,
      _State(out, kept, predictions, kept, cache, jnp.int32(1), zeros + 1))
  return LookaheadGeneration(state.out[:, :max_new_tokens], state.forwards,
                             state.row_forwards)
