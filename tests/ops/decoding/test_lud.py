"""LUD look-ahead decoding: greedy at beta > 1, equal to a cache-free loop."""

import functools

import jax
import numpy as np
import pytest
from jax import numpy as jnp

from ops.decoding.lud import accept_lookahead, lookahead_generate
from ops.decoding.sampling import generate
from zoo.lm.decoder import CachedLM, DecoderConfig, DecoderLM
from zoo.lm.special_tokens import MASK
from zoo.lm.table import TableLM

PROMPT_LEN, NEW, LOOKAHEAD = 5, 10, 3
PADDED = PROMPT_LEN + NEW + LOOKAHEAD  # the longest block of the loop


@functools.cache
def _decoder_lm() -> CachedLM:
  module = DecoderLM(DecoderConfig(vocab_size=48, embed_dim=32, num_layers=2,
                                   num_heads=2, mlp_dim=64))
  tokens = jnp.zeros((1, 4), jnp.int32)
  params = jax.jit(module.init)(jax.random.key(0), tokens)["params"]
  return CachedLM(params, module)


def _prompt(seed, batch=3, vocab=48):
  return jax.random.randint(jax.random.key(seed), (batch, PROMPT_LEN), 4,
                            vocab)


def _lookahead_loop(forward, prompt_row, beta):
  """The decoder without a cache: a full forward over every step's block.

  `forward` maps [PADDED] tokens to [PADDED, V] causal logits, so padding
  at the end changes nothing before it.
  """
  sequence, new, forwards = list(prompt_row), [], 0
  while len(new) < NEW:
    block = sequence + [MASK] * LOOKAHEAD
    tokens = np.zeros(PADDED, np.int32)
    tokens[:len(block)] = block
    logits = np.asarray(forward(tokens))[:len(block)]
    forwards += 1
    rows = logits[len(sequence) - 1:]  # next token, then the look-ahead
    probs = np.exp(rows - rows.max(-1, keepdims=True))
    confidence = probs.max(-1) / probs.sum(-1)
    predictions = [int(t) for t in rows.argmax(-1)]
    kept = 1
    while (kept <= LOOKAHEAD and confidence[kept] >= beta
           and predictions[kept] != predictions[kept - 1]):
      kept += 1
    sequence += predictions[:kept]
    new += predictions[:kept]
  return new[:NEW], forwards


def _check_against_loop(lm, forward, prompt, beta):
  out = lookahead_generate(lm, prompt, NEW, placeholder=MASK,
                           lookahead=LOOKAHEAD, beta=beta)
  expected = [_lookahead_loop(forward, [int(t) for t in row], beta)
              for row in np.asarray(prompt)]
  np.testing.assert_array_equal(out.tokens, [e[0] for e in expected])
  np.testing.assert_array_equal(out.row_forward_calls,
                                [e[1] for e in expected])
  assert int(out.forward_calls) == max(e[1] for e in expected)
  return out


def test_decoder_lm_is_greedy_above_one_and_matches_a_cache_free_loop():
  lm, prompt = _decoder_lm(), _prompt(1)
  # One compilation serves both: beta is traced.
  out = lookahead_generate(lm, prompt, NEW, placeholder=MASK,
                           lookahead=LOOKAHEAD, beta=1.01)
  np.testing.assert_array_equal(out.tokens, generate(lm, prompt, NEW).tokens)
  assert int(out.forward_calls) == NEW
  np.testing.assert_array_equal(out.row_forward_calls, [NEW] * 3)

  forward = jax.jit(lambda tokens: lm(tokens[None])[0])
  out = _check_against_loop(lm, forward, prompt, beta=0.06)
  assert int(out.row_forward_calls.min()) < NEW  # something was accepted


def test_trigram_table_matches_a_cache_free_loop():
  lm = TableLM.random(jax.random.key(3), 16, order=3, temperature=0.3)
  forward = jax.jit(
      lambda tokens: lm.extend(tokens[None], lm.init_cache(1, PADDED))[0][0])
  for beta in (0.3, 0.7):
    out = _check_against_loop(lm, forward, _prompt(4, batch=4, vocab=16),
                              beta)
    assert int(out.row_forward_calls.min()) < NEW


def test_accepts_the_confident_prefix_without_immediate_repeats():
  rng = np.random.default_rng(0)
  predictions = rng.integers(0, 3, (200, 1 + LOOKAHEAD))
  confidence = rng.uniform(size=(200, 1 + LOOKAHEAD))
  kept = np.asarray(accept_lookahead(jnp.asarray(predictions),
                                     jnp.asarray(confidence), 0.4))
  for row, conf, n in zip(predictions, confidence, kept):
    expected = 1
    while (expected <= LOOKAHEAD and conf[expected] >= 0.4
           and row[expected] != row[expected - 1]):
      expected += 1
    assert n == expected
  assert set(kept) == set(range(1, 2 + LOOKAHEAD))


@pytest.mark.parametrize("kwargs, match", [
    ({"lookahead": -1}, "lookahead"),
    ({"max_new_tokens": 0}, "max_new_tokens"),
    ({"prompt": jnp.zeros((5,), jnp.int32)}, "prompt"),
])
def test_bad_arguments_are_named(kwargs, match):
  args = {"prompt": _prompt(0), "max_new_tokens": NEW, "lookahead": 2,
          **kwargs}
  with pytest.raises(ValueError, match=match):
    lookahead_generate(TableLM.random(jax.random.key(0), 48), placeholder=MASK,
                       **args)
