"""PEARL: parallel speculative decoding with adaptive draft length.

Every round the draft model drafts `gamma` tokens while the target, at the
same time, scores the tokens of the sequence it has not seen yet; then both
results meet in one verification. Each row is in one of two modes:

- pre-verify (after a rejection, and at the start): the sequence is fully
  verified; the target's forward on its last token scores the first new
  draft token. Accepted: all `gamma` drafts join the sequence (one verified,
  gamma - 1 pending) and the row turns post-verify. Rejected: a residual
  sample replaces it.
- post-verify: the sequence ends in a verified token the target has not seen
  and gamma - 1 pending drafts; the target's forward on those gamma tokens
  scores the pending drafts and the first new draft. All accepted: the new
  drafts join (the draft length grows while the draft is right); otherwise
  both caches roll back and a residual sample ends the row's run.

Acceptance is speculative sampling (`verify_chain`), so the output equals
target greedy decoding at temperature 0 and follows the target's
distribution at temperature > 0. Under one jit the two forwards run one
after the other: `pearl_generate` counts rounds, and `cost_model` turns them
into the wall clock of the two models overlapping on two devices.
`pearl_generate_two_devices` really overlaps them: the draft's and target's
forwards are jitted apart, each on its own device, and JAX's asynchronous
dispatch runs them at once.
"""

import functools
from typing import NamedTuple

import jax
from jax import numpy as jnp

from ops.attention import write_rows
from ops.decoding import lengths_of, read_rows
from ops.decoding.speculative import (
    SpeculativeGeneration,
    check_args,
    draft_chain,
    prefill_both,
    token_probs,
    verify_chain,
)


class PearlState(NamedTuple):
  """Per-row decoding state, caches apart (they may live on two devices).

  Attributes:
    seq: [B, S] prompt, verified and pending tokens.
    length: [B] tokens in seq.
    post: [B] bool, post-verify mode.
    pending_probs: [B, gamma - 1, V] the draft distributions of the pending
      drafts (post-verify).
    key: PRNG key.
    rounds, accepted, rejections: [B] int32 counters, as in
      SpeculativeGeneration.
  """

  seq: jax.Array
  length: jax.Array
  post: jax.Array
  pending_probs: jax.Array
  key: jax.Array
  rounds: jax.Array
  accepted: jax.Array
  rejections: jax.Array


def _verified(state: PearlState, gamma: int):
  return state.length - jnp.where(state.post, gamma - 1, 0)


def _start(name, target, draft, prompt, max_new_tokens, key, gamma,
           temperature, prompt_lengths):
  """Prefills; returns (state, target cache, draft cache)."""
  key = jax.random.key(0) if key is None else key
  b, p = prompt.shape
  key, first_key = jax.random.split(key)
  # A finished row keeps running (static batch): writes reach 3 gamma on.
  seq, lengths, target_cache, draft_cache = prefill_both(
      name, target, draft, prompt, prompt_lengths,
      p + max_new_tokens + 3 * gamma, first_key, temperature)
  zeros = jnp.zeros((b,), jnp.int32)
  pending = jnp.zeros((b, gamma - 1, target.vocab_size), jnp.float32)
  state = PearlState(seq, lengths + 1, zeros.astype(bool), pending, key,
                     zeros, zeros, zeros)
  return state, target_cache, draft_cache


def draft_step(draft, cache, state: PearlState, key, *, gamma: int,
               temperature: float):
  """The draft's side of a round: gamma tokens after the whole sequence.

  Returns:
    (drafts [B, gamma], their distributions [B, gamma, V], draft cache).
  """
  return draft_chain(draft, cache, state.seq, state.length, gamma, key,
                     temperature)


def target_step(target, cache, state: PearlState, *, gamma: int,
                temperature: float):
  """The target's side: one forward over the tokens it has not seen.

  That is the last token in pre-verify mode, padded to gamma with stale
  slots the causal mask hides, and the last gamma tokens in post-verify.

  Returns:
    (probs [B, gamma, V]: probs[:, i] scores the token after block slot i,
    target cache).
  """
  start = state.length - jnp.where(state.post, gamma, 1)
  logits, cache = target.extend(read_rows(state.seq, start, gamma),
                                cache.replace(length=start))
  return token_probs(logits, temperature), cache


def verify_step(state: PearlState, drafts, draft_probs, target_probs, key,
                end, *, gamma: int) -> PearlState:
  """Joins both sides: accepts, writes tokens, switches modes, counts.

  `end` [B] is where each row's last new token goes, plus one.
  """
  active = _verified(state, gamma) < end
  post = state.post
  width = jnp.where(post, gamma, 1)
  start = state.length - width
  # Candidates: post-verify, the pending drafts then the first new one;
  # pre-verify, the first new one (the rest are never verified).
  candidates = jnp.where(
      post[:, None],
      jnp.concatenate([read_rows(state.seq, start + 1, gamma - 1),
                       drafts[:, :1]], axis=1), drafts)
  candidate_probs = jnp.where(
      post[:, None, None],
      jnp.concatenate([state.pending_probs, draft_probs[:, :1]], axis=1),
      draft_probs)
  # No bonus token: the target has not seen the first new draft.
  no_bonus = jnp.zeros_like(target_probs[:, :1])
  verdict = verify_chain(candidates,
                         jnp.concatenate([target_probs, no_bonus], axis=1),
                         candidate_probs, key, num_candidates=width)
  n = verdict.num_accepted
  all_accepted = n == width
  # All accepted: the drafts follow the sequence; else the residual sample
  # follows the accepted candidates (and stale drafts after it are unused).
  at = jnp.where(all_accepted, state.length, start + 1 + n)
  new = jnp.where(all_accepted[:, None], drafts, jnp.concatenate(
      [verdict.next_token[:, None], drafts[:, 1:]], axis=1))
  length = jnp.where(all_accepted, state.length + gamma, at + 1)
  keep = lambda new, old: jnp.where(
      active.reshape(active.shape + (1,) * (old.ndim - 1)), new, old)
  return PearlState(
      keep(write_rows(state.seq, new, at), state.seq),
      keep(length, state.length), keep(all_accepted, post),
      keep(jnp.where(all_accepted[:, None, None], draft_probs[:, 1:],
                     state.pending_probs), state.pending_probs),
      state.key, state.rounds + active, state.accepted + active * n,
      state.rejections + (active & ~all_accepted))


def _round_keys(state: PearlState):
  """(state with the next round's key, draft key, verify key)."""
  key, draft_key, verify_key = jax.random.split(state.key, 3)
  return state._replace(key=key), draft_key, verify_key


def _finish(state: PearlState, end, max_new_tokens: int,
            gamma: int) -> SpeculativeGeneration:
  loops = jnp.max(state.rounds)
  return SpeculativeGeneration(
      read_rows(state.seq, end - max_new_tokens, max_new_tokens), 1 + loops,
                               1 + gamma * loops, state.rounds,
                               state.accepted, state.rejections)


def pearl_generate(target, draft, prompt, max_new_tokens: int, key=None, *,
                   gamma: int = 4, temperature: float = 0.0,
                   prompt_lengths=None) -> SpeculativeGeneration:
  """PEARL decoding of `max_new_tokens` tokens after `prompt`, in one jit.

  The arguments are checked eagerly (see `ops.decoding.check_prompt`). A
  sampled row's draws depend on the key, its index and B, not on the other
  rows' prompts or lengths.

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
    SpeculativeGeneration with tokens [B, T]; every round is one target and
    gamma draft forwards.
  """
  check_args("pearl_generate", target, draft, prompt, max_new_tokens, key,
             gamma, temperature, prompt_lengths)
  return _pearl_generate(target, draft, prompt, max_new_tokens, key,
                         gamma=gamma, temperature=temperature,
                         prompt_lengths=prompt_lengths)


@functools.partial(jax.jit, static_argnames=("max_new_tokens", "gamma",
                                             "temperature"))
def _pearl_generate(target, draft, prompt, max_new_tokens, key, *, gamma,
                    temperature, prompt_lengths):
  state, target_cache, draft_cache = _start(
      "pearl_generate", target, draft, prompt, max_new_tokens, key, gamma,
      temperature, prompt_lengths)
  end = lengths_of(prompt, prompt_lengths) + max_new_tokens
  sides = dict(gamma=gamma, temperature=temperature)

  def round_(carry):
    state, target_cache, draft_cache = carry
    state, draft_key, verify_key = _round_keys(state)
    drafts, draft_probs, draft_cache = draft_step(
        draft, draft_cache, state, draft_key, **sides)
    target_probs, target_cache = target_step(target, target_cache, state,
                                             **sides)
    state = verify_step(state, drafts, draft_probs, target_probs,
                        verify_key, end, gamma=gamma)
    return state, target_cache, draft_cache

  state, _, _ = jax.lax.while_loop(
      lambda carry: jnp.any(_verified(carry[0], gamma) < end), round_,
      (state, target_cache, draft_cache))
  return _finish(state, end, max_new_tokens, gamma)


# The two-device path's pieces, each compiled once per static setting.
_start_jit = jax.jit(_start, static_argnums=(0, 4, 6, 7))
_draft_step_jit = jax.jit(draft_step, static_argnames=("gamma",
                                                       "temperature"))
_target_step_jit = jax.jit(target_step, static_argnames=("gamma",
                                                         "temperature"))
_verify_step_jit = jax.jit(verify_step, static_argnames=("gamma",))


def pearl_generate_two_devices(target, draft, prompt, max_new_tokens: int,
                               key=None, *, gamma: int = 4,
                               temperature: float = 0.0, prompt_lengths=None,
                               devices=None) -> SpeculativeGeneration:
  """`pearl_generate` with the target and the draft on two devices.

  Each round dispatches the draft's and the target's forwards (jitted apart)
  before waiting for either, so they overlap; the verification runs on the
  target's device. Same keys, same result as `pearl_generate`.

  Args:
    target, draft, prompt, max_new_tokens, key, gamma, temperature,
      prompt_lengths: as in `pearl_generate`.
    devices: (target device, draft device); default the first two.

  Returns:
    SpeculativeGeneration.
  """
  name = "pearl_generate_two_devices"
  check_args(name, target, draft, prompt, max_new_tokens, key, gamma,
             temperature, prompt_lengths)
  target_device, draft_device = (jax.devices()[:2] if devices is None
                                 else devices)
  sides = dict(gamma=gamma, temperature=temperature)
  state, target_cache, draft_cache = jax.device_put(
      _start_jit(name, target, draft, prompt, max_new_tokens, key, gamma,
                 temperature, prompt_lengths), target_device)
  end = jax.device_put(lengths_of(prompt, prompt_lengths) + max_new_tokens,
                       target_device)
  target = jax.device_put(target, target_device)
  draft, draft_cache = jax.device_put((draft, draft_cache), draft_device)
  while bool(jnp.any(_verified(state, gamma) < end)):
    state, draft_key, verify_key = _round_keys(state)
    drafted = _draft_step_jit(
        draft, draft_cache, *jax.device_put((state, draft_key), draft_device),
        **sides)
    target_probs, target_cache = _target_step_jit(target, target_cache,
                                                  state, **sides)
    drafts, draft_probs, draft_cache = drafted
    state = _verify_step_jit(
        state, *jax.device_put((drafts, draft_probs), target_device),
        target_probs, verify_key, end, gamma=gamma)
  return _finish(state, end, max_new_tokens, gamma)


class CostModel(NamedTuple):
  """Wall clocks in target forwards, and PEARL's speedups.

  Attributes:
    autoregressive, speculative, pearl: time to decode, with the prefill
      forward every method shares.
    pearl_vs_autoregressive, pearl_vs_speculative: time ratios.
  """

  autoregressive: float
  speculative: float
  pearl: float
  pearl_vs_autoregressive: float
  pearl_vs_speculative: float


def cost_model(new_tokens: int, speculative_rounds: float,
               pearl_rounds: float, gamma: int,
               draft_cost: float) -> CostModel:
  """PEARL's wall clock against plain speculative and greedy decoding.

  With c = draft_cost = t_draft / t_target: a greedy token costs 1, a plain
  speculative round gamma * c + 1 (draft, then target), a PEARL round
  max(gamma * c, 1) (both at once). This is the paper's model, speedups
  `tokens / (rounds * max(gamma c, 1))` and `rounds_sd * (gamma c + 1) /
  (rounds_pearl * max(gamma c, 1))`, with the shared prefill forward added.

  Args:
    new_tokens: T, decoded per row.
    speculative_rounds: rounds of plain speculative decoding (per row).
    pearl_rounds: rounds of PEARL (per row).
    gamma: draft tokens per round.
    draft_cost: c.
  """
  if draft_cost <= 0:
    raise ValueError(f"draft_cost: expected t_draft / t_target > 0, got "
                     f"{draft_cost}")
  speculative = 1 + speculative_rounds * (gamma * draft_cost + 1)
  pearl = 1 + pearl_rounds * max(gamma * draft_cost, 1.0)
  return CostModel(float(new_tokens), speculative, pearl, new_tokens / pearl,
                   speculative / pearl)
