"""Every decoder refuses an unusable prompt with a ValueError naming itself.

The shared check (`ops.decoding.check_prompt`) runs before the jitted loop:
empty prompts, no new tokens, token ids outside the vocabulary, prompt
lengths outside [1, P], and prompts whose cache the model cannot hold.
"""

import functools

import flax.struct
import jax
import pytest
from jax import numpy as jnp

from ops.decoding import exact_extract, superposed
from ops.decoding.beam import beam_search
from ops.decoding.diffusion import generate as diffusion_generate
from ops.decoding.diverse_beam import diverse_beam_search
from ops.decoding.lud import lookahead_generate
from ops.decoding.momentum import momentum_generate
from ops.decoding.pearl import pearl_generate, pearl_generate_two_devices
from ops.decoding.prompt_lookup import PromptLookup
from ops.decoding.sampling import generate
from ops.decoding.speculative import speculative_generate
from ops.decoding.tree_decode import tree_decode
from ops.decoding.unmask import UnmaskRule
from zoo.lm import special_tokens
from zoo.lm.decoder import CachedLM, DecoderConfig, DecoderLM

V = 16


@functools.cache
def _lm():
  module = DecoderLM(DecoderConfig(vocab_size=V, embed_dim=16, num_layers=1,
                                   num_heads=2, mlp_dim=32))
  params = module.init(jax.random.key(0), jnp.zeros((1, 4), jnp.int32))
  return CachedLM(params["params"], module)


class ShortContextLM(flax.struct.PyTreeNode):
  """A model whose cache holds at most `max_slots` slots per row."""

  lm: CachedLM
  max_slots: int = flax.struct.field(pytree_node=False)

  @property
  def vocab_size(self):
    return self.lm.vocab_size

  def init_cache(self, batch, capacity):
    return self.lm.init_cache(batch, min(capacity, self.max_slots))

  def extend(self, *args, **kwargs):
    return self.lm.extend(*args, **kwargs)

  def embed(self, tokens):
    return self.lm.embed(tokens)

  def __call__(self, *args, **kwargs):
    return self.lm(*args, **kwargs)


# name -> decode(lm, prompt, new_tokens, **kwargs): every public decoder
# (token recycling, ADED and prompt lookup are drafters of tree_decode).
DECODERS = {
    "generate": generate,
    "speculative_generate": lambda lm, *a, **kw: speculative_generate(
        lm, lm, *a, gamma=2, **kw),
    "pearl_generate": lambda lm, *a, **kw: pearl_generate(
        lm, lm, *a, gamma=2, **kw),
    "pearl_generate_two_devices": lambda lm, *a, **kw: (
        pearl_generate_two_devices(lm, lm, *a, gamma=2, **kw)),
    "tree_decode": lambda lm, *a, **kw: tree_decode(
        lm, *a, PromptLookup(ngram=1, num_draft=2), (), **kw),
    "beam_search": functools.partial(beam_search, num_beams=2),
    "diverse_beam_search": functools.partial(
        diverse_beam_search, num_beams=2, num_groups=2, diversity_penalty=1.),
    "momentum_generate": momentum_generate,
    "lookahead_generate": functools.partial(
        lookahead_generate, placeholder=special_tokens.MASK, lookahead=2),
    "superposed_decode": functools.partial(
        superposed.superposed_decode, num_drafts=2, n_token_sample=2,
        alpha=0.0),
    # The diffusion sampler's new tokens are its gen_len.
    "generate (diffusion)": lambda lm, p, n, **kw: diffusion_generate(
        lm, p, gen_len=n, block_len=1, rule=UnmaskRule(), cached=True, **kw),
}
NAMES = {"generate (diffusion)": "generate"}


def _prompt(length=4, batch=2):
  return jax.random.randint(jax.random.key(1), (batch, length), 0, V)


def _refused(name, match, *args, **kwargs):
  with pytest.raises(ValueError, match=f"{NAMES.get(name, name)}: {match}"):
    DECODERS[name](*args, **kwargs)


@pytest.mark.parametrize("name", list(DECODERS))
def test_an_empty_prompt_is_refused(name):
  _refused(name, r"prompt must be int \[B, P\] with P >= 1", _lm(),
           jnp.zeros((2, 0), jnp.int32), 3)


@pytest.mark.parametrize("name", sorted(set(DECODERS) - {
    "generate (diffusion)"}))
def test_no_new_tokens_is_refused(name):
  _refused(name, "max_new_tokens must be >= 1", _lm(), _prompt(), 0)


@pytest.mark.parametrize("bad", [V, -1])
@pytest.mark.parametrize("name", list(DECODERS))
def test_token_ids_outside_the_vocabulary_are_refused(name, bad):
  prompt = _prompt().at[1, 2].set(bad)
  _refused(name, rf"prompt token ids must be in \[0, {V}\), got {bad} at "
           r"\[1, 2\]", _lm(), prompt, 3)


@pytest.mark.parametrize("lengths", [[4, 0], [5, 1], [4]])
@pytest.mark.parametrize("name", list(DECODERS))
def test_prompt_lengths_outside_the_prompt_are_refused(name, lengths):
  _refused(name, "prompt lengths must be", _lm(), _prompt(), 3,
           prompt_lengths=jnp.asarray(lengths, jnp.int32))


@pytest.mark.parametrize("length, new", [(10, 1), (6, 4)])
@pytest.mark.parametrize("name", list(DECODERS))
def test_a_prompt_the_cache_cannot_hold_is_refused(name, length, new):
  _refused(name, f"a prompt of {length} tokens needs .* cache slots .* the "
           "model's cache holds 8", ShortContextLM(_lm(), 8),
           _prompt(length), new)


def test_padding_is_not_checked():
  prompt = _prompt().at[1, :2].set(-1)
  out = generate(_lm(), prompt, 2, prompt_lengths=jnp.array([4, 2]))
  assert out.tokens.shape == (2, 2)


def test_under_an_outer_jit_only_shapes_are_checked():
  lm = _lm()  # built outside the jit: the cached model must not hold tracers
  decode = jax.jit(lambda prompt: generate(lm, prompt, 2).tokens)
  assert decode(_prompt().at[0, 0].set(V)).shape == (2, 2)
  with pytest.raises(ValueError, match="generate: prompt must be"):
    decode(jnp.zeros((2, 0), jnp.int32))


@pytest.mark.parametrize("scorer", ["span_scores", "greedy_answer"])
def test_exact_extract_checks_its_right_padded_prompts(scorer):
  run = {
      "span_scores": functools.partial(
          exact_extract.span_scores, passage_start=jnp.array([0, 0]),
          passage_len=jnp.array([2, 2]), max_passage_len=2,
          max_answer_len=2, stop_id=special_tokens.EOS),
      "greedy_answer": functools.partial(
          exact_extract.greedy_answer, max_answer_len=2,
          stop_id=special_tokens.EOS)}[scorer]
  prompt = _prompt()
  # The padding after each prompt is not checked.
  run(_lm(), prompt.at[1, 3].set(V), jnp.array([4, 3]))
  with pytest.raises(ValueError, match=rf"{scorer}: prompt token ids"):
    run(_lm(), prompt.at[1, 2].set(V), jnp.array([4, 3]))
  with pytest.raises(ValueError, match=rf"{scorer}: prompt lengths"):
    run(_lm(), prompt, jnp.array([4, 5]))
  with pytest.raises(ValueError, match=rf"{scorer}: a prompt of 4 tokens"):
    run(ShortContextLM(_lm(), 5), prompt, jnp.array([4, 3]))
