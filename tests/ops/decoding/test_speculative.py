"""Speculative decoding: exactly greedy at temperature 0, exactly the target's
distribution at temperature 1, and the textbook acceptance rate."""

import itertools
import math

import jax
import numpy as np
import pytest
from jax import numpy as jnp
from scipy import stats

from ops.decoding.pearl import pearl_generate
from ops.decoding.sampling import generate
from ops.decoding.speculative import speculative_generate
from zoo.lm.decoder import CachedLM, DecoderConfig, DecoderLM
from zoo.lm.table import TableLM


def table_pair(seed, vocab_size=16, noise=0.6):
  """A trigram target and a draft that shares most of its argmaxes."""
  target_key, noise_key = jax.random.split(jax.random.key(seed))
  target = TableLM.random(target_key, vocab_size, order=3, temperature=0.5)
  noise = noise * jax.random.normal(noise_key, target.logits.shape)
  return target, TableLM(target.logits + noise)


def decoder_pair(seed, vocab_size=64, noise=0.05):
  """A 2-layer decoder with N(0, 0.3^2) weights and a noisy copy (draft)."""
  module = DecoderLM(DecoderConfig(vocab_size=vocab_size, embed_dim=32,
                                   num_layers=2, num_heads=2,
                                   num_kv_heads=1, mlp_dim=64))
  shapes = jax.eval_shape(module.init, jax.random.key(0),
                          jnp.zeros((1, 4), jnp.int32))["params"]
  rng = np.random.default_rng(seed)
  params = jax.tree.map(lambda s: rng.normal(0, 0.3, s.shape), shapes)
  draft = jax.tree.map(lambda x: x + rng.normal(0, noise, x.shape), params)
  as_lm = lambda p: CachedLM(jax.tree.map(jnp.float32, p), module)
  return as_lm(params), as_lm(draft)


def random_prompts(seed, batch, length, vocab_size):
  rng = np.random.default_rng(seed)
  return jnp.asarray(rng.integers(0, vocab_size, (batch, length)), jnp.int32)


# PEARL's greedy path shares these properties; its own tests are in
# test_pearl.py.
LOSSLESS = {"speculative": speculative_generate, "pearl": pearl_generate}


@pytest.mark.parametrize("method, seed, gamma", [
    ("speculative", 0, 2), ("speculative", 1, 5), ("pearl", 0, 1),
    ("pearl", 1, 4)])
def test_greedy_equals_target_greedy_on_table_lms(method, seed, gamma):
  decode = LOSSLESS[method]
  target, draft = table_pair(seed)
  prompts = random_prompts(seed, 8, 3, target.vocab_size)
  out = decode(target, draft, prompts, 17, gamma=gamma)
  np.testing.assert_array_equal(out.tokens, generate(target, prompts,
                                                     17).tokens)
  # Both verdicts happened: the test covers acceptance and rollback.
  assert out.accepted.sum() > 0 and out.rejections.sum() > 0
  # Rows are independent: reordering them reorders every per-row result.
  order = np.random.default_rng(seed).permutation(len(prompts))
  shuffled = decode(target, draft, prompts[order], 17, gamma=gamma)
  for field in ("tokens", "rounds", "accepted", "rejections"):
    np.testing.assert_array_equal(getattr(shuffled, field),
                                  np.asarray(getattr(out, field))[order])
  assert out.target_forwards == 1 + out.rounds.max()
  assert out.draft_forwards == 1 + gamma * out.rounds.max()


@pytest.mark.parametrize("method", list(LOSSLESS))
def test_greedy_equals_target_greedy_on_decoders(method):
  target, draft = decoder_pair(0)
  prompts = random_prompts(0, 4, 5, target.vocab_size)
  out = LOSSLESS[method](target, draft, prompts, 12, gamma=3)
  np.testing.assert_array_equal(out.tokens, generate(target, prompts,
                                                     12).tokens)
  assert out.accepted.sum() > 0 and out.rejections.sum() > 0


@pytest.mark.parametrize("temperature", [0.0, 1.0])
def test_a_draft_equal_to_the_target_is_always_accepted(temperature):
  target, _ = table_pair(2)
  gamma, new_tokens = 2, 17
  prompts = random_prompts(2, 8, 3, target.vocab_size)
  key = jax.random.key(3) if temperature else None
  out = speculative_generate(target, target, prompts, new_tokens, key,
                             gamma=gamma, temperature=temperature)
  # gamma + 1 tokens per target call after the prefill's one.
  rounds = math.ceil((new_tokens - 1) / (gamma + 1))
  np.testing.assert_array_equal(out.rounds, rounds)
  np.testing.assert_array_equal(out.accepted, gamma * rounds)
  assert out.target_forwards == 1 + rounds


def exact_trigram_distribution(target, prompt, length):
  """Target probabilities of every continuation, [V ** length], in order."""
  probs = np.asarray(jax.nn.softmax(target.logits, axis=-1), np.float64)
  out = []
  for tail in itertools.product(range(target.vocab_size), repeat=length):
    seq = [*prompt, *tail]
    out.append(np.prod([probs[seq[i - 2], seq[i - 1], seq[i]]
                        for i in range(len(prompt), len(seq))]))
  return np.array(out)


def assert_follows_target(decode, seed=0, samples=20_000):
  """Chi-square of V=4, 3-token samples against the exact target law."""
  target_key, draft_key = jax.random.split(jax.random.key(seed))
  target = TableLM.random(target_key, 4, order=3, temperature=2.0)
  draft = TableLM.random(draft_key, 4, order=3, temperature=2.0)
  prompt = np.array([1, 2])
  prompts = jnp.tile(jnp.asarray(prompt, jnp.int32), (samples, 1))
  out = decode(target, draft, prompts, 3, jax.random.key(seed + 1),
               gamma=2, temperature=1.0)
  assert out.rejections.sum() > samples // 10
  index = np.ravel_multi_index(np.asarray(out.tokens).T, (4, 4, 4))
  observed = np.bincount(index, minlength=64)
  law = exact_trigram_distribution(target, prompt, 3)
  expected = samples * law / law.sum()
  assert stats.chisquare(observed, expected).pvalue > 1e-3


def test_sampling_follows_the_target_distribution():
  assert_follows_target(speculative_generate)


def test_acceptance_rate_alpha_gives_the_textbook_tokens_per_round():
  # Per context p = a s + (1 - a) u and q = a s + (1 - a) w with u, w on
  # disjoint tokens: sum(min(p, q)) = a, so every draft token is accepted
  # with probability exactly a, independently of the past.
  alpha, gamma, v = 0.8, 3, 6
  rng = np.random.default_rng(4)
  shared = rng.dirichlet(np.ones(v), v)
  u, w = rng.dirichlet(np.ones(v // 2), (2, v))
  none = np.zeros((v, v // 2))
  p = alpha * shared + (1 - alpha) * np.concatenate([u, none], axis=1)
  q = alpha * shared + (1 - alpha) * np.concatenate([none, w], axis=1)
  prompts = random_prompts(5, 2000, 1, v)
  as_table = lambda probs: TableLM(jnp.log(jnp.asarray(probs, jnp.float32)))
  out = speculative_generate(as_table(p), as_table(q),
                             prompts, 32, jax.random.key(6), gamma=gamma,
                             temperature=1.0)
  per_round = (out.accepted.sum() + out.rounds.sum()) / out.rounds.sum()
  expected = (1 - alpha ** (gamma + 1)) / (1 - alpha)
  np.testing.assert_allclose(per_round, expected, rtol=0.02)


def test_bad_arguments_are_named():
  target, draft = table_pair(0)
  prompts = random_prompts(0, 2, 3, target.vocab_size)
  with pytest.raises(ValueError, match="gamma"):
    speculative_generate(target, draft, prompts, 4, gamma=0)
  with pytest.raises(ValueError, match="vocab_size"):
    speculative_generate(target, TableLM.random(jax.random.key(0), 5),
                         prompts, 4)
  with pytest.raises(ValueError, match="key"):
    speculative_generate(target, draft, prompts, 4, temperature=1.0)
