"""Momentum decoding (Lian et al.): greedy with a resistance to repetition.

At every step the model's top-k candidates c are scored

    s(c) = p(c) - alpha * R(L(c)),

with p the model's probability (not log-probability) and L(c) the
repetition length of c against the whole context (prompt and generated
tokens): 0 if c never occurred, else the largest n in [2, max_n] such that
the n-gram (last n - 1 tokens, c) already occurred, else 1. The argmax is
emitted; if every candidate's score is -inf, the model's top choice is. One
forward per token, like greedy decoding.

A resistance table is R(0), ..., R(max_n) (max_n = len(table) - 1); "ours"
is the released one: no resistance up to trigram repeats, 5.0 for a
repeated 4-gram (with alpha = 0.2 it loses to any fresh candidate) and a
hard block on repeated 5-grams.
"""

import functools
import math

import jax
from jax import numpy as jnp

from ops.attention import write_rows
from ops.decoding import check_prompt, prefill, read_rows
from ops.decoding.sampling import Generation
from ops.vocab import vocab_reduce

RESISTANCE_TABLES = {
    "ours": (0.0, 0.0, 0.0, 0.0, 5.0, math.inf),
    "constant": (0.0, 2.0, 2.0, 2.0, 2.0, 2.0),
    "linear": (0.0, 1.0, 2.0, 3.0, 4.0, 5.0),
    "log": tuple(math.log(1 + n, 6) / 0.2 for n in range(6)),
    "exp": (0.0,) + tuple(1.5 ** n / 2 for n in range(1, 6)),
}


def soft_ngram_table(n: int, penalty: float = 1.0) -> tuple[float, ...]:
  """Resistance `penalty` for completing any already seen n-gram, else 0.

  L(c) >= n exactly when (last n - 1 tokens, c) occurred before, so with
  max_n = n this table is the plain soft n-gram repetition penalty.
  """
  if n < 2:
    raise ValueError(f"soft_ngram_table: n must be >= 2, got {n}")
  return (0.0,) * n + (float(penalty),)


def resistance_table(resistance) -> tuple[float, ...]:
  """A table name from RESISTANCE_TABLES, or a sequence R(0..max_n)."""
  if isinstance(resistance, str):
    if resistance not in RESISTANCE_TABLES:
      raise ValueError(f"resistance must be one of "
                       f"{sorted(RESISTANCE_TABLES)} or a sequence, got "
                       f"{resistance!r}")
    return RESISTANCE_TABLES[resistance]
  table = tuple(float(r) for r in resistance)
  if len(table) < 3 or any(r < 0 for r in table):
    raise ValueError(f"resistance table must hold R(0), ..., R(max_n) >= 0 "
                     f"with max_n >= 2, got {table}")
  return table


def repetition_lengths(history, length, vocab_size: int,
                       max_n: int = 5) -> jax.Array:
  """L(v) for every token v, against the first `length` tokens of history.

  Args:
    history: [B, H] int tokens (prompt then generated).
    length: [B] int, how many are valid; the next token goes at `length`.
    vocab_size: V.
    max_n: the longest n-gram looked for.

  Returns:
    [B, V] int32 in [0, max_n].
  """
  b, h = history.shape
  pos = jnp.arange(h)
  length = jnp.broadcast_to(length, (b,))
  # run[j]: how many tokens before j equal the tokens before `length`, up to
  # max_n - 1, so an occurrence at j extends to a (1 + run[j])-gram.
  run = jnp.zeros((b, h), jnp.int32)
  matching = jnp.ones((b, h), jnp.bool_)
  for d in range(1, max_n):
    before_j = history[:, jnp.maximum(pos - d, 0)]
    before_end = jnp.take_along_axis(
        history, jnp.maximum(length - d, 0)[:, None], axis=1)
    matching &= ((pos >= d)[None] & (length >= d)[:, None]
                 & (before_j == before_end))
    run += matching
  value = jnp.where(pos[None] < length[:, None], 1 + run, 0)
  rows = jnp.broadcast_to(jnp.arange(b)[:, None], (b, h))
  return jnp.zeros((b, vocab_size), jnp.int32).at[rows, history].max(value)


def _choose(logits, history, length, *, top_k, penalties):
  """[B, V] logits -> [B] int32: the top-k candidate of highest s(c)."""
  stats = vocab_reduce(logits, k=top_k)
  probs = jnp.exp(stats.top_logits - stats.logsumexp[:, None])
  lengths = repetition_lengths(history, length, logits.shape[-1],
                               penalties.shape[0] - 1)
  rep = jnp.take_along_axis(lengths, stats.top_ids, axis=1)
  score = probs - penalties[rep]
  best = jnp.argmax(score, axis=-1)  # all -inf -> 0, the model's top choice
  return jnp.take_along_axis(stats.top_ids, best[:, None], 1)[:, 0]


@functools.partial(jax.jit, static_argnames=("max_new_tokens", "top_k"))
def _generate(lm, prompt, prompt_lengths, max_new_tokens, top_k, alpha,
              table):
  # alpha = 0 must not meet an infinite resistance (0 * inf is nan, and
  # argmax would pick the nan).
  penalties = jnp.where((table > 0) & (alpha > 0), alpha * table, 0.0)
  choose = functools.partial(_choose, top_k=top_k, penalties=penalties)
  b, p = prompt.shape
  prefilled = prefill("momentum_generate", lm, prompt, prompt_lengths,
                      p + max_new_tokens)
  lengths = prefilled.lengths
  history = jnp.zeros((b, p + max_new_tokens), jnp.int32)
  history = history.at[:, :p].set(prefilled.tokens)
  history = write_rows(
      history, choose(prefilled.next_logits, history, lengths)[:, None],
      lengths)

  def step(i, carry):
    history, cache = carry
    last = read_rows(history, lengths + i - 1, 1)
    logits, cache = lm.extend(last, cache)
    token = choose(logits[:, 0], history, lengths + i)
    return write_rows(history, token[:, None], lengths + i), cache

  history, _ = jax.lax.fori_loop(1, max_new_tokens, step,
                                 (history, prefilled.cache))
  return Generation(read_rows(history, lengths, max_new_tokens),
                    jnp.int32(max_new_tokens))


def momentum_generate(lm, prompt, max_new_tokens: int, *, top_k: int = 5,
                      alpha: float = 0.2, resistance="ours",
                      prompt_lengths=None) -> Generation:
  """Decodes `max_new_tokens` tokens after `prompt` with momentum decoding.

  The arguments are checked eagerly (see `ops.decoding.check_prompt`).
  Jit-compiled once per shape, max_new_tokens, top_k and table length;
  alpha and the table values are traced.

  Args:
    lm: the model (see `ops.decoding`).
    prompt: [B, P] int token ids, left-padded if prompt_lengths is given.
    max_new_tokens: T.
    top_k: candidates per step, in [1, V] (the released default is 2000).
    alpha: resistance weight >= 0; 0 gives greedy decoding.
    resistance: a name from RESISTANCE_TABLES or a sequence R(0..max_n).
    prompt_lengths: optional [B] int, each row's prompt length.

  Returns:
    Generation with tokens [B, T] and T forward calls.
  """
  check_prompt("momentum_generate", prompt, max_new_tokens,
               vocab_size=lm.vocab_size, prompt_lengths=prompt_lengths)
  if not 1 <= top_k <= lm.vocab_size:
    raise ValueError(f"momentum_generate: top_k must be in [1, "
                     f"{lm.vocab_size}], got {top_k}")
  if alpha < 0:
    raise ValueError(f"momentum_generate: alpha must be >= 0, got {alpha}")
  table = jnp.asarray(resistance_table(resistance), jnp.float32)
  return _generate(lm, prompt, prompt_lengths, max_new_tokens, top_k,
                   jnp.float32(alpha), table)
