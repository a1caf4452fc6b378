"""Speculative decoding: a draft model proposes, the target verifies.

Every round the draft model decodes `gamma` tokens one by one and the target
scores the whole chain in ONE cached forward (causal mask); each row keeps
its longest accepted prefix plus one token from the target. At temperature 0
a draft token is accepted iff it is the target's argmax, so the output
equals target greedy decoding; at temperature > 0 it is accepted with
probability min(1, p/q) and the first rejected one is replaced by a sample
of norm(max(0, p - q)) (speculative sampling), so the output is distributed
exactly as target sampling. Rows accept different lengths.

Cache protocol (shared with `ops.decoding.pearl`): with `length` tokens
known per row (prompt and generated), the target's cache holds all but the
last one and the draft's all but the last two. Each round re-feeds the draft
those two, so a draft that ran ahead of the accepted tokens is rolled back by
setting its cache length alone; a chain's accepted slots are contiguous, so
the target's rollback is a length too.
"""

import functools
from typing import NamedTuple

import jax
from jax import numpy as jnp

from ops.attention import write_rows
from ops.decoding import check_prompt, prefill, read_rows
from ops.decoding.sampling import filter_logits


class SpeculativeGeneration(NamedTuple):
  """Decoded tokens and cost counters.

  Attributes:
    tokens: [B, T] new tokens.
    target_forwards: scalar int32, target calls, prefill included.
    draft_forwards: scalar int32, draft calls, prefill included.
    rounds: [B] int32, draft-and-verify rounds each row needed.
    accepted: [B] int32, draft tokens each row accepted.
    rejections: [B] int32, rounds that rejected a draft token.
  """

  tokens: jax.Array
  target_forwards: jax.Array
  draft_forwards: jax.Array
  rounds: jax.Array
  accepted: jax.Array
  rejections: jax.Array


def check_args(name, target, draft, prompt, max_new_tokens, key, gamma,
               temperature, prompt_lengths):
  """Raises ValueError for arguments no draft-and-verify decoder accepts."""
  if target.vocab_size != draft.vocab_size:
    raise ValueError(f"{name}: the draft's vocab_size {draft.vocab_size} "
                     f"differs from the target's {target.vocab_size}")
  check_prompt(name, prompt, max_new_tokens, vocab_size=target.vocab_size,
               prompt_lengths=prompt_lengths)
  if gamma < 1:
    raise ValueError(f"{name}: gamma must be >= 1 draft tokens, got {gamma}")
  if temperature < 0:
    raise ValueError(f"{name}: temperature must be >= 0, got {temperature}")
  if temperature > 0 and key is None:
    raise ValueError(f"{name}: key is needed: sampling (temperature > 0) "
                     "needs a PRNG key")


def token_probs(logits, temperature: float):
  """[..., V] logits -> [..., V] f32 probabilities; one-hot argmax at 0."""
  if temperature == 0:
    return jax.nn.one_hot(jnp.argmax(logits, axis=-1), logits.shape[-1],
                          dtype=jnp.float32)
  return jax.nn.softmax(filter_logits(logits, temperature=temperature), -1)


def sample(key, probs):
  """[B, V] probabilities -> [B] int32 draws (the argmax of a one-hot)."""
  return jax.random.categorical(key, jnp.log(probs)).astype(jnp.int32)


def prefill_both(name, target, draft, prompt, prompt_lengths,
                 capacity: int, key, temperature: float):
  """Both prefills and the target's first token.

  Returns:
    (seq [B, capacity] holding the left-aligned prompts and that token,
    the prompt lengths [B], target cache, draft cache): the protocol's
    state with `length = prompt_lengths + 1`.
  """
  b, p = prompt.shape
  prefilled = prefill(name, target, prompt, prompt_lengths, capacity)
  first = sample(key, token_probs(prefilled.next_logits, temperature))
  draft_cache = prefill(name, draft, prompt, prompt_lengths, capacity).cache
  seq = jnp.zeros((b, capacity), jnp.int32).at[:, :p].set(prefilled.tokens)
  seq = write_rows(seq, first[:, None], prefilled.lengths)
  return seq, prefilled.lengths, prefilled.cache, draft_cache


def draft_chain(draft, cache, seq, length, gamma: int, key,
                temperature: float):
  """The draft's next `gamma` tokens after row b's first length[b] tokens.

  Args:
    draft: the draft model.
    cache: its cache, valid up to at least length - 2 slots.
    seq: [B, S] tokens.
    length: [B] known tokens per row (>= 2).
    gamma: tokens to draft.
    key: PRNG key.
    temperature: 0 for argmax drafts.

  Returns:
    (tokens [B, gamma], the distributions they were drawn from [B, gamma,
    V], the draft's cache).
  """
  keys = jax.random.split(key, gamma)

  def next_draft(tokens, cache, step_key):
    logits, cache = draft.extend(tokens, cache)
    probs = token_probs(logits[:, -1], temperature)
    return sample(step_key, probs), probs, cache

  first, first_probs, cache = next_draft(
      read_rows(seq, length - 2, 2), cache.replace(length=length - 2),
      keys[0])

  def step(carry, step_key):
    token, cache = carry
    token, probs, cache = next_draft(token[:, None], cache, step_key)
    return (token, cache), (token, probs)

  (_, cache), (rest, rest_probs) = jax.lax.scan(step, (first, cache),
                                                keys[1:])
  tokens = jnp.concatenate([first[:, None], rest.T], axis=1)
  probs = jnp.concatenate(
      [first_probs[:, None], jnp.swapaxes(rest_probs, 0, 1)], axis=1)
  return tokens, probs, cache


class ChainVerdict(NamedTuple):
  """num_accepted: [B] leading candidates kept; next_token: [B]."""

  num_accepted: jax.Array
  next_token: jax.Array


def verify_chain(candidates, target_probs, draft_probs, key,
                 num_candidates=None) -> ChainVerdict:
  """Speculative sampling over a chain of drafted tokens.

  Candidate i, drawn from draft_probs[:, i] = q, is accepted with
  probability min(1, p/q) at its token, p = target_probs[:, i]; acceptance
  stops at the first rejection or after `num_candidates`. With n accepted,
  `next_token` is drawn from norm(max(0, p - q)) at position n, where q is 0
  past the verified candidates: a residual sample after a rejection, a
  bonus sample of target_probs[:, n] when all were accepted. With one-hot
  probabilities (temperature 0) this is exact greedy verification.

  Args:
    candidates: [B, K] drafted tokens.
    target_probs: [B, K + 1, V], the target's distribution at each
      candidate's position and after the last one.
    draft_probs: [B, K, V].
    key: PRNG key.
    num_candidates: optional [B] int, verify only the first ones (default
      K).

  Returns:
    ChainVerdict.
  """
  b, k = candidates.shape
  accept_key, residual_key = jax.random.split(key)
  at_candidate = lambda probs: jnp.take_along_axis(
      probs, candidates[..., None], axis=-1)[..., 0]
  p = at_candidate(target_probs[:, :k])
  q = at_candidate(draft_probs)
  # Strict: a token the target rules out (p = 0) is never accepted.
  ok = jax.random.uniform(accept_key, (b, k)) * q < p
  limit = k if num_candidates is None else num_candidates[:, None]
  verified = jnp.arange(k) < limit
  n = jnp.sum(jnp.cumprod(ok & verified, axis=1), axis=1).astype(jnp.int32)
  q_past = jnp.concatenate(
      [jnp.where(verified[..., None], draft_probs, 0.),
       jnp.zeros_like(draft_probs[:, :1])], axis=1)
  pick = lambda probs: jnp.take_along_axis(probs, n[:, None, None], 1)[:, 0]
  residual = jnp.maximum(pick(target_probs) - pick(q_past), 0.)
  # Rounding can leave no mass where p and q (nearly) agree.
  residual = jnp.where(jnp.sum(residual, -1, keepdims=True) > 0, residual,
                       pick(target_probs))
  return ChainVerdict(n, sample(residual_key, residual))


class _Loop(NamedTuple):
  seq: jax.Array
  length: jax.Array
  target_cache: object
  draft_cache: object
  key: jax.Array
  rounds: jax.Array
  accepted: jax.Array
  rejections: jax.Array


def speculative_generate(target, draft, prompt, max_new_tokens: int,
                         key=None, *, gamma: int = 4,
                         temperature: float = 0.0,
                         prompt_lengths=None) -> SpeculativeGeneration:
  """Draft-then-verify decoding of `max_new_tokens` tokens after `prompt`.

  The arguments are checked eagerly (see `ops.decoding.check_prompt`), then
  one jitted loop runs. A sampled row's draws depend on the key, its index
  and B, not on the other rows' prompts or lengths.

  Args:
    target: the model whose distribution the output follows (see
      `ops.decoding`).
    draft: a cheaper model with the same vocabulary.
    prompt: [B, P] int token ids, left-padded if prompt_lengths is given.
    max_new_tokens: T.
    key: PRNG key, needed when temperature > 0.
    gamma: draft tokens per round.
    temperature: 0 for greedy.
    prompt_lengths: optional [B] int, each row's prompt length.

  Returns:
    SpeculativeGeneration with tokens [B, T].
  """
  check_args("speculative_generate", target, draft, prompt, max_new_tokens,
             key, gamma, temperature, prompt_lengths)
  return _speculative_generate(target, draft, prompt, max_new_tokens, key,
                               gamma=gamma, temperature=temperature,
                               prompt_lengths=prompt_lengths)


@functools.partial(jax.jit, static_argnames=("max_new_tokens", "gamma",
                                             "temperature"))
def _speculative_generate(target, draft, prompt, max_new_tokens, key, *,
                          gamma, temperature, prompt_lengths):
  key = jax.random.key(0) if key is None else key
  b, p = prompt.shape
  # A finished row keeps running (static batch): writes reach 2 gamma on.
  capacity = p + max_new_tokens + 2 * gamma
  key, first_key = jax.random.split(key)
  seq, lengths, target_cache, draft_cache = prefill_both(
      "speculative_generate", target, draft, prompt, prompt_lengths,
      capacity, first_key, temperature)
  end = lengths + max_new_tokens
  zeros = jnp.zeros((b,), jnp.int32)
  init = _Loop(seq, lengths + 1, target_cache, draft_cache, key, zeros,
               zeros, zeros)

  def round_(s: _Loop) -> _Loop:
    key, draft_key, verify_key = jax.random.split(s.key, 3)
    active = s.length < end
    drafts, draft_probs, draft_cache = draft_chain(
        draft, s.draft_cache, s.seq, s.length, gamma, draft_key, temperature)
    # The last known token, then the drafts: gamma + 1 target distributions.
    block = jnp.concatenate([read_rows(s.seq, s.length - 1, 1), drafts], 1)
    logits, target_cache = target.extend(
        block, s.target_cache.replace(length=s.length - 1))
    verdict = verify_chain(drafts, token_probs(logits, temperature),
                           draft_probs, verify_key)
    n = verdict.num_accepted
    new = jnp.where(jnp.arange(gamma + 1) == n[:, None],
                    verdict.next_token[:, None],
                    jnp.pad(drafts, ((0, 0), (0, 1))))
    return _Loop(
        jnp.where(active[:, None], write_rows(s.seq, new, s.length), s.seq),
        jnp.where(active, s.length + n + 1, s.length), target_cache,
        draft_cache, key, s.rounds + active, s.accepted + active * n,
        s.rejections + (active & (n < gamma)))

  out = jax.lax.while_loop(lambda s: jnp.any(s.length < end), round_, init)
  loops = jnp.max(out.rounds)
  return SpeculativeGeneration(read_rows(out.seq, lengths, max_new_tokens),
                               1 + loops,
                               1 + gamma * loops, out.rounds, out.accepted,
                               out.rejections)
