"""Superposed Decoding against greedy, a counted model and a Python loop."""

import flax.struct
import jax
import numpy as np
import pytest
from jax import numpy as jnp

from ops.decoding import ngram, sampling, superposed
from tests.ops.decoding.test_ngram import counter_logprob, counter_reference
from zoo.lm.decoder import CachedLM, DecoderConfig, DecoderLM

V = 29


@pytest.fixture(scope="module")
def lm():
  module = DecoderLM(DecoderConfig(vocab_size=V, embed_dim=32, num_layers=2,
                                   num_heads=2, num_kv_heads=1, mlp_dim=48))
  params = jax.jit(module.init)(jax.random.key(0), jnp.zeros((1, 4), jnp.int32))
  return CachedLM(params["params"], module)


class _Log:
  def __init__(self):
    self.rows = []


class CountingLM(flax.struct.PyTreeNode):
  """A model that records the batch size of every forward it runs."""

  lm: CachedLM
  log: _Log = flax.struct.field(pytree_node=False)

  @property
  def vocab_size(self):
    return self.lm.vocab_size

  def init_cache(self, batch, capacity):
    return self.lm.init_cache(batch, capacity)

  def embed(self, tokens):
    return self.lm.embed(tokens)

  def extend(self, tokens, cache, positions=None, qq_mask=None,
             embeddings=None):
    rows = tokens.shape[0]
    jax.debug.callback(lambda: self.log.rows.append(rows))
    return self.lm.extend(tokens, cache, positions, qq_mask, embeddings)


def _counted(lm, prompt, steps, **kwargs):
  counting = CountingLM(lm, _Log())
  drafts = superposed.superposed_decode(counting, prompt, steps, **kwargs)
  jax.block_until_ready(drafts)
  jax.effects_barrier()
  return drafts, counting.log.rows


def test_one_draft_without_ngrams_is_greedy_in_t_calls(lm):
  prompt = jax.random.randint(jax.random.key(1), (3, 5), 0, V)
  drafts, rows = _counted(lm, prompt, 8, num_drafts=1, alpha=0.0)
  greedy = sampling.generate(lm, prompt, 8)
  np.testing.assert_array_equal(drafts.tokens[:, 0], greedy.tokens)
  assert rows == [3] * 8 and int(drafts.forward_calls) == 8


def test_three_drafts_cost_t_calls_of_one_row_per_prompt(lm):
  prompt = jax.random.randint(jax.random.key(2), (2, 4), 0, V)
  table = ngram.build_ngram_table(np.arange(60) % 7, V)
  drafts, rows = _counted(lm, prompt, 6, ngrams=table, num_drafts=3)
  assert drafts.tokens.shape == (2, 3, 6)
  assert rows == [2] * 6 and int(drafts.forward_calls) == 6


def test_one_hot_weights_give_the_plain_embedding_bitwise(lm):
  tokens = jax.random.randint(jax.random.key(3), (4, 3), 0, V)
  pick = jnp.array([0, 2, 1, 2])
  mixed = superposed.superposed_embedding(lm, tokens,
                                          jax.nn.one_hot(pick, 3))
  plain = lm.embed(jnp.take_along_axis(tokens, pick[:, None], 1))
  np.testing.assert_array_equal(mixed, plain)


def _python_spd(lm, prompt, steps, counts, k, n, temperature, alpha):
  """Superposed Decoding for one prompt, step by step in Python."""
  drafts, scores = [list(prompt)], [0.0]
  cache = lm.init_cache(1, len(prompt) + steps)
  extend = jax.jit(lm.extend)
  logits, cache = extend(jnp.asarray(prompt)[None], cache)
  for step in range(steps):
    if step:
      w = np.exp(np.array(scores) - max(scores))
      mixed = superposed.superposed_embedding(
          lm, jnp.array([[d[-1] for d in drafts]]),
          jnp.asarray(w / w.sum())[None])
      logits, cache = extend(jnp.zeros((1, 1), jnp.int32), cache,
                             embeddings=mixed)
    logp = np.asarray(jax.nn.log_softmax(logits[0, -1] / temperature))
    top = np.argsort(-logp, kind="stable")[:n]
    options = []
    for d, (draft, score) in enumerate(zip(drafts, scores)):
      smooth = np.array([counter_logprob(counts, draft, v, V) for v in top])
      if np.all(np.isneginf(smooth)):
        q = (1 - alpha) * logp[top] - superposed.UNSEEN_PENALTY
      else:
        q = (1 - alpha) * logp[top] + alpha * smooth
      options += [(score + q[j], d, top[j]) for j in range(n)]
    # Best first; ties keep the (draft, rank) order, like lax.top_k.
    options.sort(key=lambda o: -o[0])
    best = options[:k]
    drafts = [drafts[d] + [int(v)] for _, d, v in best]
    scores = [s for s, _, _ in best]
  return np.array([d[len(prompt):] for d in drafts]), np.array(scores)


def test_drafts_and_scores_equal_a_python_loop(lm):
  rng = np.random.default_rng(4)
  # A corpus made of the model's own likely continuations gives the n-gram
  # model seen and unseen suffixes alike.
  prompt = jnp.asarray(rng.integers(0, V, (2, 6)))
  greedy = np.asarray(sampling.generate(lm, prompt, 10).tokens)
  docs = [np.concatenate([np.asarray(prompt[0]), greedy[0]]),
          rng.integers(0, V, 200)]
  table = ngram.build_ngram_table(docs, V)
  counts = counter_reference(docs)
  settings = dict(num_drafts=3, n_token_sample=5, temperature=0.7, alpha=0.5)
  got = superposed.superposed_decode(lm, prompt, 5, table, **settings)
  for row in range(2):
    tokens, scores = _python_spd(
        lm, np.asarray(prompt[row]).tolist(), 5, counts, 3, 5, 0.7, 0.5)
    np.testing.assert_array_equal(got.tokens[row], tokens)
    np.testing.assert_allclose(got.scores[row], scores, rtol=1e-4)


def test_bad_arguments_are_rejected(lm):
  prompt = jnp.zeros((1, 3), jnp.int32)
  with pytest.raises(ValueError, match="n-gram table"):
    superposed.superposed_decode(lm, prompt, 4)
  with pytest.raises(ValueError, match="n_token_sample"):
    superposed.superposed_decode(lm, prompt, 4, num_drafts=4, n_token_sample=3,
                                 alpha=0.0)
