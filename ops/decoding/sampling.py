"""Autoregressive decoding: greedy, and sampling with temperature/top-k/top-p.

One model forward per generated token; the prefill forward yields the first
token, so `T` new tokens cost exactly `T` forward calls.
"""

import functools
from typing import NamedTuple

import jax
from jax import numpy as jnp

from ops.decoding import check_prompt, prefill


class Generation(NamedTuple):
  """tokens: [B, T] new tokens; forward_calls: scalar int32."""

  tokens: jax.Array
  forward_calls: jax.Array


def filter_logits(logits, *, temperature: float = 1.0, top_k: int = 0,
                  top_p: float = 1.0):
  """Temperature, then top-k, then nucleus (top-p) filtering of [..., V].

  Filtered-out entries become -inf; the most likely token always survives.
  """
  if temperature <= 0:
    raise ValueError(f"filter_logits: temperature must be > 0, got "
                     f"{temperature} (use greedy for 0)")
  logits = logits.astype(jnp.float32) / temperature
  if top_k:
    kth = jax.lax.top_k(logits, top_k)[0][..., -1:]
    logits = jnp.where(logits < kth, -jnp.inf, logits)
  if top_p < 1.0:
    order = jnp.argsort(-logits, axis=-1)
    sorted_logits = jnp.take_along_axis(logits, order, -1)
    probs = jax.nn.softmax(sorted_logits, axis=-1)
    # Keep the smallest prefix whose mass reaches top_p.
    keep_sorted = jnp.cumsum(probs, axis=-1) - probs < top_p
    keep = jnp.put_along_axis(jnp.zeros_like(keep_sorted), order,
                              keep_sorted, -1, inplace=False)
    logits = jnp.where(keep, logits, -jnp.inf)
  return logits


def next_token(logits, key=None, *, temperature=0.0, top_k=0, top_p=1.0):
  """[B, V] logits -> [B] int32: argmax if temperature == 0, else a sample."""
  if temperature == 0:
    return jnp.argmax(logits, axis=-1).astype(jnp.int32)
  filtered = filter_logits(logits, temperature=temperature, top_k=top_k,
                           top_p=top_p)
  return jax.random.categorical(key, filtered, axis=-1).astype(jnp.int32)


def generate(lm, prompt, max_new_tokens: int, key=None, *,
             temperature: float = 0.0, top_k: int = 0, top_p: float = 1.0,
             prompt_lengths=None) -> Generation:
  """Decodes `max_new_tokens` tokens after `prompt` [B, P].

  The arguments are checked eagerly (see `ops.decoding.check_prompt`), then
  one jitted loop runs. A sampled row's draws depend on the key, its index
  and B, not on the other rows' prompts or lengths.

  Args:
    lm: the model (see `ops.decoding`).
    prompt: [B, P] int token ids, left-padded if prompt_lengths is given.
    max_new_tokens: T.
    key: PRNG key, needed when temperature > 0.
    temperature: 0 for greedy.
    top_k: keep the k most likely tokens (0: all).
    top_p: nucleus mass (1: all).
    prompt_lengths: optional [B] int, each row's prompt length.

  Returns:
    Generation with tokens [B, T].
  """
  check_prompt("generate", prompt, max_new_tokens, vocab_size=lm.vocab_size,
               prompt_lengths=prompt_lengths)
  if temperature > 0 and key is None:
    raise ValueError("generate: sampling (temperature > 0) needs a key")
  return _generate(lm, prompt, max_new_tokens, key, temperature=temperature,
                   top_k=top_k, top_p=top_p, prompt_lengths=prompt_lengths)


@functools.partial(jax.jit, static_argnames=(
    "max_new_tokens", "temperature", "top_k", "top_p"))
def _generate(lm, prompt, max_new_tokens, key, *, temperature, top_k, top_p,
              prompt_lengths):
  key = jax.random.key(0) if key is None else key
  b, p = prompt.shape
  pick = functools.partial(next_token, temperature=temperature, top_k=top_k,
                           top_p=top_p)
  prefilled = prefill("generate", lm, prompt, prompt_lengths,
                      p + max_new_tokens)
  keys = jax.random.split(key, max_new_tokens)
  first = pick(prefilled.next_logits, keys[0])
  out = jnp.zeros((b, max_new_tokens), jnp.int32).at[:, 0].set(first)

  def step(i, carry):
    out, cache = carry
    logits, cache = lm.extend(
        jax.lax.dynamic_slice_in_dim(out, i - 1, 1, axis=1), cache)
    return out.at[:, i].set(pick(logits[:, 0], keys[i])), cache

  out, _ = jax.lax.fori_loop(1, max_new_tokens, step, (out, prefilled.cache))
  return Generation(out, jnp.int32(max_new_tokens))
