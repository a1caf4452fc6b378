"""tree_decode equals greedy whatever the drafter proposes; prompt lookup."""

import dataclasses

import jax
import numpy as np
import pytest
from jax import numpy as jnp

from ops.decoding.prompt_lookup import PromptLookup, lookup_continuation
from ops.decoding.sampling import generate
from ops.decoding.tree_decode import last_tokens, tree_decode
from zoo.lm.decoder import CachedLM, DecoderConfig, DecoderLM
from zoo.lm.table import TableLM

RANDOM, CORRECT, WRONG, MIXED = range(4)
VOCAB, NEW = 12, 24


@dataclasses.dataclass(frozen=True)
class ScriptedDrafter:
  """Trees of fixed random shape; node tokens by `state["mode"]`.

  The state holds the bigram table of the target, so CORRECT nodes carry
  the target's greedy choice after their parent, WRONG nodes any other
  token, RANDOM nodes random tokens and MIXED nodes either at random.
  """

  tree_size: int

  def draft(self, state, history, length):
    b, t = state["parent"].shape
    root = last_tokens(history, length, 1)
    noise = jax.random.randint(state["key"], (2, b, t), 0, VOCAB)
    tokens = jnp.broadcast_to(root, (b, t))
    for _ in range(t - 1):  # after depth-many rounds every node is final
      above = jnp.take_along_axis(tokens, jnp.maximum(state["parent"], 0), 1)
      correct = jnp.argmax(state["table"][above], axis=-1)
      choice = jnp.select(
          [state["mode"] == CORRECT, state["mode"] == WRONG,
           state["mode"] == RANDOM],
          [correct, (correct + 1) % VOCAB, noise[0]],
          jnp.where(noise[1] % 2 == 0, correct, noise[0]))
      tokens = tokens.at[:, 1:].set(choice[:, 1:])
    return tokens, state["parent"]

  def update(self, state, inputs, logits, history, length, num_new):
    del inputs, logits, history, length, num_new
    return {**state, "key": jax.random.split(state["key"])[0]}


def random_parent(rng, batch, size):
  """[B, T] random trees, parents before children."""
  return np.stack([[-1] + [rng.integers(0, j) for j in range(1, size)]
                   for _ in range(batch)]).astype(np.int32)


def tree_depth(parent):
  depth = np.zeros(parent.shape, int)
  for j in range(1, parent.shape[-1]):
    depth[..., j] = depth[np.arange(parent.shape[0]), parent[..., j]] + 1
  return depth


@pytest.fixture(scope="module")
def bigram():
  return TableLM.random(jax.random.key(0), VOCAB, order=2, temperature=0.5)


def decode_scripted(lm, prompt, mode, parent, table, new=NEW):
  state = {"key": jax.random.key(mode), "mode": jnp.int32(mode),
           "parent": jnp.asarray(parent), "table": table}
  return tree_decode(lm, prompt, new, ScriptedDrafter(parent.shape[1]), state)


def check_counts(out, new):
  """Every forward appends >= 1 token; the loop stops once N are there."""
  steps = np.asarray(out.step_tokens)
  for row in steps:
    active = row[row > 0]
    assert active.sum() >= new and active[:-1].sum() < new
    assert (row[len(active):] == 0).all()
  assert int(out.forward_calls) == max((s > 0).sum() for s in steps)


@pytest.mark.parametrize("mode", [RANDOM, CORRECT, WRONG, MIXED])
def test_any_tree_gives_greedy(bigram, mode):
  rng = np.random.default_rng(mode)
  prompt = jnp.asarray(rng.integers(0, VOCAB, (3, 5)), jnp.int32)
  parent = random_parent(rng, 3, 7)
  out = decode_scripted(bigram, prompt, mode, parent, bigram.logits)
  np.testing.assert_array_equal(out.tokens,
                                generate(bigram, prompt, NEW).tokens)
  check_counts(out, NEW)
  steps = np.asarray(out.step_tokens)
  if mode == WRONG:
    assert int(out.forward_calls) == NEW
  if mode == CORRECT:  # the deepest node and the bonus, every time
    for row, depth in zip(steps, tree_depth(parent).max(axis=1)):
      active = row[row > 0]
      assert (active[1:] == depth + 1).all()


def test_root_only_trees_are_greedy_one_token_per_forward(bigram):
  prompt = jnp.arange(8, dtype=jnp.int32).reshape(2, 4)
  out = decode_scripted(bigram, prompt, RANDOM, np.full((2, 1), -1),
                        bigram.logits)
  np.testing.assert_array_equal(out.tokens,
                                generate(bigram, prompt, NEW).tokens)
  assert int(out.forward_calls) == NEW


def tiny_transformer(seed=2):
  """A random-weight 2-layer DecoderLM over VOCAB tokens."""
  cfg = DecoderConfig(vocab_size=VOCAB, embed_dim=32, num_layers=2,
                      num_heads=2, num_kv_heads=1, mlp_dim=64)
  module = DecoderLM(cfg)
  init = jax.jit(module.init)(jax.random.key(seed), jnp.zeros((1, 4), int))
  return CachedLM(init["params"], module)


def test_random_trees_on_a_transformer():
  lm = tiny_transformer()
  prompt = jax.random.randint(jax.random.key(1), (2, 6), 0, VOCAB)
  parent = random_parent(np.random.default_rng(3), 2, 6)
  # MIXED drafts from a stand-in table: deep acceptance is rare, any is fine.
  table = jax.random.normal(jax.random.key(4), (VOCAB, VOCAB))
  out = decode_scripted(lm, prompt, MIXED, parent, table, new=16)
  np.testing.assert_array_equal(out.tokens, generate(lm, prompt, 16).tokens)
  check_counts(out, 16)


def brute_force_lookup(row, length, n, k):
  suffix = list(row[length - n:length])
  for end in range(length - 1, n - 1, -1):
    if list(row[end - n:end]) == suffix:
      return [row[i] if i < length else 0 for i in range(end, end + k)]
  return [0] * k


def test_lookup_continuation_matches_brute_force():
  rng = np.random.default_rng(5)
  history = rng.integers(1, 4, (64, 20)).astype(np.int32)
  length = rng.integers(1, 21, 64).astype(np.int32)
  lookup = jax.jit(lookup_continuation, static_argnums=(2, 3))
  for n, k in ((1, 3), (2, 5), (3, 4)):
    got = lookup(jnp.asarray(history), jnp.asarray(length), n, k)
    want = [brute_force_lookup(h, ln, n, k) for h, ln in zip(history, length)]
    np.testing.assert_array_equal(got, want)


def test_prompt_lookup_is_greedy_and_drafts_loops():
  # A cold table LM falls into short cycles that lookup should predict.
  lm = TableLM.random(jax.random.key(6), VOCAB, order=2, temperature=0.1)
  prompt = jax.random.randint(jax.random.key(7), (3, 6), 0, VOCAB)
  out = tree_decode(lm, prompt, 40, PromptLookup(ngram=2, num_draft=4), ())
  np.testing.assert_array_equal(out.tokens, generate(lm, prompt, 40).tokens)
  check_counts(out, 40)
  assert int(out.forward_calls) < 20
