"""Beam search over a KV cache, with the bookkeeping diverse beam search shares.

The search state holds, per prompt, `G` groups of `W` alive beams (plain beam
search is one group) and, per group, a pool of the `W` best finished
hypotheses. Every step runs one batched forward over all `G * W` beams and
reorders the cache rows with `cache.take`. A group's step follows the
Hugging Face rules: take the top `2W` (beam, token) candidates by cumulative
score; the first `W` that do not end in `eos_id` stay alive; those that end
in it, if ranked within the top `W`, compete for the finished pool with
score `cumulative / length ** length_penalty`. After `max_new_tokens` steps
the alive beams join the pool, which is returned best first. Without an
`eos_id` every hypothesis has the full length and the search is the plain
fixed-length beam search.
"""

import functools
from collections.abc import Callable
from typing import NamedTuple

import jax
from jax import numpy as jnp

from ops.decoding import PAD, check_prompt, prefill
from ops.vocab import vocab_reduce


class Beams(NamedTuple):
  """Search state; leading dims [N, G, W] (prompts, groups, beams).

  Attributes:
    tokens: [N, G, W, T] alive hypotheses; slots past the step hold PAD.
    scores: [N, G, W] cumulative selection scores (model log-probs plus any
      diversity penalty); -inf marks an empty beam.
    log_probs: [N, G, W] cumulative model log-probs.
    done_tokens: [N, G, W, T] finished hypotheses, PAD after the EOS.
    done_scores: [N, G, W] their length-normalised scores; -inf if empty.
    done_log_probs: [N, G, W] their model log-probs.
    done_lengths: [N, G, W] int32, new tokens including the EOS.
  """

  tokens: jax.Array
  scores: jax.Array
  log_probs: jax.Array
  done_tokens: jax.Array
  done_scores: jax.Array
  done_log_probs: jax.Array
  done_lengths: jax.Array


class BeamResult(NamedTuple):
  """The final hypotheses of each prompt, K = groups x beams per group.

  Attributes:
    tokens: [N, K, T] new tokens, PAD after an EOS; group-major, best first
      within a group.
    scores: [N, K] the ranking scores (selection score / length **
      length_penalty).
    log_probs: [N, K] model log-probabilities of the hypotheses.
    lengths: [N, K] int32 new tokens, the EOS included.
    forward_calls: scalar int32, batched model forwards (prefill included).
  """

  tokens: jax.Array
  scores: jax.Array
  log_probs: jax.Array
  lengths: jax.Array
  forward_calls: jax.Array


def initial_beams(num_prompts: int, num_groups: int, group_size: int,
                  max_new_tokens: int) -> Beams:
  """Every group starts from the prompt alone: one live beam, the rest empty."""
  shape = (num_prompts, num_groups, group_size)
  tokens = jnp.full(shape + (max_new_tokens,), PAD, jnp.int32)
  empty = jnp.full(shape, -jnp.inf, jnp.float32)
  scores = empty.at[..., 0].set(0.0)
  return Beams(tokens, scores, jnp.zeros(shape, jnp.float32), tokens, empty,
               jnp.zeros(shape, jnp.float32), jnp.zeros(shape, jnp.int32))


def _gather(x, index):
  """x [..., M, *rest], index [..., K] -> [..., K, *rest]."""
  axis = index.ndim - 1
  index = index.reshape(index.shape + (1,) * (x.ndim - index.ndim))
  return jnp.take_along_axis(x, index, axis=axis)


def _best(scores, log_probs, tokens, lengths, k):
  """The k best of [..., M] hypotheses by score (lower index on ties)."""
  top, index = jax.lax.top_k(scores, k)
  return (top, _gather(log_probs, index), _gather(tokens, index),
          _gather(lengths, index))


def select(beams: Beams, step, cand_scores, cand_tokens, cand_log_probs, *,
           eos_id: int | None, length_penalty: float):
  """One beam-search step of a group; leading dims [...] (e.g. [N]).

  Args:
    beams: the group's state, fields [..., W] and [..., W, T].
    step: index of the token being chosen (traced is fine).
    cand_scores: [..., W, k] per-beam candidate selection scores (log-prob
      plus penalty), each beam's top k with k >= min(2, V); enough to hold
      the group's top 2W.
    cand_tokens: [..., W, k] int32 their token ids.
    cand_log_probs: [..., W, k] their model log-probs.
    eos_id: the token that finishes a hypothesis, or None.
    length_penalty: exponent of the length normalisation.

  Returns:
    (the new state, parent [..., W] int32: the beam each alive beam extends).
  """
  w, k = cand_scores.shape[-2:]
  lead = cand_scores.shape[:-2]
  total = beams.scores[..., None] + cand_scores
  num_top = min(2 * w, w * k)
  top, flat = jax.lax.top_k(total.reshape(lead + (w * k,)), num_top)
  parent = (flat // k).astype(jnp.int32)
  token = _gather(cand_tokens.reshape(lead + (w * k,)), flat)
  log_prob = (_gather(beams.log_probs, parent)
              + _gather(cand_log_probs.reshape(lead + (w * k,)), flat))
  sequences = _gather(beams.tokens, parent).at[..., step].set(token)
  if eos_id is None:
    ended = jnp.zeros(top.shape, jnp.bool_)
  else:
    ended = token == eos_id
  # Stable sort of the ended flags keeps rank order among the rest.
  alive = jnp.argsort(ended, axis=-1, stable=True)[..., :w]
  new = Beams(_gather(sequences, alive), _gather(top, alive),
              _gather(log_prob, alive), beams.done_tokens, beams.done_scores,
              beams.done_log_probs, beams.done_lengths)
  if eos_id is not None:
    length = step + 1
    finished = ended & (jnp.arange(num_top) < w) & jnp.isfinite(top)
    done_scores = jnp.where(finished, top / length ** length_penalty,
                            -jnp.inf)
    # The pool goes first, so on equal scores earlier hypotheses stay.
    pool = _best(
        jnp.concatenate([beams.done_scores, done_scores], -1),
        jnp.concatenate([beams.done_log_probs, log_prob], -1),
        jnp.concatenate([beams.done_tokens, sequences], -2),
        jnp.concatenate([beams.done_lengths,
                         jnp.full(top.shape, length, jnp.int32)], -1), w)
    new = new._replace(done_scores=pool[0], done_log_probs=pool[1],
                       done_tokens=pool[2], done_lengths=pool[3])
  return new, _gather(parent, alive)


def finalize(beams: Beams, max_new_tokens: int, length_penalty: float,
             forward_calls: int) -> BeamResult:
  """Alive beams join the finished pools; each group's best W, best first."""
  n, g, w = beams.scores.shape
  alive_scores = beams.scores / max_new_tokens ** length_penalty
  scores, log_probs, tokens, lengths = _best(
      jnp.concatenate([beams.done_scores, alive_scores], -1),
      jnp.concatenate([beams.done_log_probs, beams.log_probs], -1),
      jnp.concatenate([beams.done_tokens, beams.tokens], -2),
      jnp.concatenate([beams.done_lengths,
                       jnp.full((n, g, w), max_new_tokens, jnp.int32)], -1),
      w)
  return BeamResult(tokens.reshape(n, g * w, max_new_tokens),
                    scores.reshape(n, g * w), log_probs.reshape(n, g * w),
                    lengths.reshape(n, g * w), jnp.int32(forward_calls))


StepFn = Callable[[Beams, jax.Array, jax.Array], tuple[Beams, jax.Array]]


def run_search(name: str, lm, prompt, prompt_lengths, max_new_tokens: int,
               num_groups: int, group_size: int, step_fn: StepFn,
               length_penalty: float) -> BeamResult:
  """Prefill once, copy the cache to every beam, then `max_new_tokens` steps.

  Args:
    name: the decoder, for errors.
    lm: the model (see `ops.decoding`).
    prompt: [N, P] int token ids, left-padded if prompt_lengths is given.
    prompt_lengths: None or [N] int, each row's prompt length.
    max_new_tokens: T, the fixed number of steps.
    num_groups: G.
    group_size: W, beams per group.
    step_fn: (beams, logits [N, G, W, V], step) -> (beams, parent [N, G, W]
      within the group), e.g. `select` applied per group.
    length_penalty: exponent of the final length normalisation.

  Returns:
    BeamResult with T forward calls, as greedy decoding.
  """
  n, p = prompt.shape
  beams_per_prompt = num_groups * group_size
  shape = (n, num_groups, group_size, lm.vocab_size)
  prefilled = prefill(name, lm, prompt, prompt_lengths, p + max_new_tokens)
  cache = prefilled.cache.take(jnp.repeat(jnp.arange(n), beams_per_prompt))
  logits = jnp.broadcast_to(prefilled.next_logits[:, None, None, :], shape)
  beams = initial_beams(n, num_groups, group_size, max_new_tokens)
  # Row of (prompt, group, beam 0) in the flat cache batch.
  group_row = (jnp.arange(n)[:, None, None] * beams_per_prompt
               + jnp.arange(num_groups)[None, :, None] * group_size)

  def body(step, carry):
    beams, cache, logits = carry
    beams, parent = step_fn(beams, logits, step)
    cache = cache.take((group_row + parent).reshape(-1))
    last = beams.tokens[..., step].reshape(-1, 1)
    logits, cache = lm.extend(last, cache)
    return beams, cache, logits.reshape(shape)

  beams, _, logits = jax.lax.fori_loop(0, max_new_tokens - 1, body,
                                       (beams, cache, logits))
  beams, _ = step_fn(beams, logits, max_new_tokens - 1)
  return finalize(beams, max_new_tokens, length_penalty, max_new_tokens)


def validate(name: str, lm, prompt, max_new_tokens: int, num_beams: int,
             eos_id: int | None, prompt_lengths):
  """Checks the arguments every beam search shares."""
  check_prompt(name, prompt, max_new_tokens, vocab_size=lm.vocab_size,
               prompt_lengths=prompt_lengths)
  if num_beams < 1:
    raise ValueError(f"{name}: num_beams must be >= 1, got {num_beams}")
  if eos_id is not None and not 0 <= eos_id < lm.vocab_size:
    raise ValueError(f"{name}: eos_id must be in [0, {lm.vocab_size}) or "
                     f"None, got {eos_id}")


def _beam_step(beams, logits, step, *, eos_id, length_penalty):
  width = beams.scores.shape[-1]
  # Each beam's top 2W tokens hold the group's top 2W candidates.
  stats = vocab_reduce(logits, k=min(2 * width, logits.shape[-1]))
  log_probs = stats.top_logits - stats.logsumexp[..., None]
  return select(beams, step, log_probs, stats.top_ids, log_probs,
                eos_id=eos_id, length_penalty=length_penalty)


def beam_search(lm, prompt, max_new_tokens: int, *, num_beams: int,
                length_penalty: float = 1.0, eos_id: int | None = None,
                prompt_lengths=None) -> BeamResult:
  """Beam search of width `num_beams` for `max_new_tokens` steps.

  The arguments are checked eagerly (see `ops.decoding.check_prompt`), then
  one jitted loop runs.

  Args:
    lm: the model (see `ops.decoding`).
    prompt: [N, P] int token ids, left-padded if prompt_lengths is given.
    max_new_tokens: T.
    num_beams: W.
    length_penalty: hypotheses rank by log-prob / length ** length_penalty
      (0: raw log-prob; 1: per-token mean). Only EOS makes lengths differ.
    eos_id: the token that finishes a hypothesis; None: fixed length T.
    prompt_lengths: optional [N] int, each row's prompt length.

  Returns:
    BeamResult with tokens [N, W, T], best first.
  """
  validate("beam_search", lm, prompt, max_new_tokens, num_beams, eos_id,
           prompt_lengths)
  return _beam_search(lm, prompt, prompt_lengths, max_new_tokens=max_new_tokens,
                      num_beams=num_beams, length_penalty=length_penalty,
                      eos_id=eos_id)


@functools.partial(jax.jit, static_argnames=(
    "max_new_tokens", "num_beams", "length_penalty", "eos_id"))
def _beam_search(lm, prompt, prompt_lengths, *, max_new_tokens, num_beams,
                 length_penalty, eos_id):
  step_fn = functools.partial(_beam_step, eos_id=eos_id,
                              length_penalty=length_penalty)
  return run_search("beam_search", lm, prompt, prompt_lengths,
                    max_new_tokens, 1, num_beams, step_fn, length_penalty)
