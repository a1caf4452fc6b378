"""Left-padded prompts of different lengths: every row decodes as alone.

Each decoder runs on a batch whose rows hold prompts of lengths 5, 1 and 3,
left-padded with random tokens, and each row is compared with the same
prompt decoded alone: token for token for greedy and lossless decoders,
with their per-row counters. A sampled row's draws depend on the key, its
index and the batch size only, so it is compared with the same prompt
decoded in every row of a batch of the same size.
"""

import functools

import jax
import numpy as np
import pytest
from jax import numpy as jnp

from ops.decoding import aded, left_align, ngram, superposed
from ops.decoding.beam import beam_search
from ops.decoding.diffusion import generate as diffusion_generate
from ops.decoding.diverse_beam import diverse_beam_search
from ops.decoding.lud import lookahead_generate
from ops.decoding.momentum import momentum_generate
from ops.decoding.pearl import pearl_generate, pearl_generate_two_devices
from ops.decoding.prompt_lookup import PromptLookup
from ops.decoding.sampling import generate
from ops.decoding.speculative import speculative_generate
from ops.decoding.token_recycling import TokenRecycling, init_adjacency
from ops.decoding.tree_decode import tree_decode
from ops.decoding.unmask import UnmaskRule
from tests.ops.decoding.test_speculative import table_pair
from zoo.lm import special_tokens
from zoo.lm.decoder import CachedLM, DecoderConfig, DecoderLM
from zoo.lm.diffusion import DiffusionConfig, MaskedDiffusionLM, denoiser

V, WIDTH, NEW = 24, 5, 9
LENGTHS = (5, 1, 3)


@functools.cache
def _models(kind):
  """(target, draft): a trigram table pair or a 1-layer decoder pair."""
  if kind == "table":
    return table_pair(0, vocab_size=V)
  module = DecoderLM(DecoderConfig(vocab_size=V, embed_dim=16, num_layers=1,
                                   num_heads=2, num_kv_heads=1, mlp_dim=32))
  shapes = jax.eval_shape(module.init, jax.random.key(0),
                          jnp.zeros((1, 4), jnp.int32))["params"]
  # N(0, 0.5) weights: attention moves the logits, so a row that saw its
  # padding or wrong positions would decode differently.
  rng = np.random.default_rng(0)
  params = jax.tree.map(
      lambda s: jnp.asarray(rng.normal(0, 0.5, s.shape), jnp.float32), shapes)
  draft = jax.tree.map(
      lambda x: x + jnp.asarray(rng.normal(0, 0.05, x.shape), jnp.float32),
      params)
  return CachedLM(params, module), CachedLM(draft, module)


def _ragged(seed=0, lengths=LENGTHS):
  """(prompt [B, WIDTH] left-padded with random tokens, lengths [B], rows)."""
  rng = np.random.default_rng(seed)
  prompt = rng.integers(0, V, (len(lengths), WIDTH)).astype(np.int32)
  rows = [prompt[b, WIDTH - n:] for b, n in enumerate(lengths)]
  return jnp.asarray(prompt), jnp.asarray(lengths, jnp.int32), rows


def _assert_rows_alone(decode, fields, seed=0, close=()):
  """decode(prompt, lengths) row b == decode(row b alone, None) row 0."""
  prompt, lengths, rows = _ragged(seed)
  batched = decode(prompt, lengths)
  for b, row in enumerate(rows):
    alone = decode(jnp.asarray(row[None]), None)
    for field in fields:
      np.testing.assert_array_equal(getattr(batched, field)[b],
                                    getattr(alone, field)[0], err_msg=field)
    for field in close:
      np.testing.assert_allclose(getattr(batched, field)[b],
                                 getattr(alone, field)[0], rtol=1e-5,
                                 atol=1e-5)
  return batched


def _assert_rows_as_tiled(decode, fields, seed=0):
  """decode(prompt, lengths) row b == decode(B copies of row b) row b."""
  prompt, lengths, rows = _ragged(seed)
  batched = decode(prompt, lengths)
  for b, row in enumerate(rows):
    tiled = decode(jnp.asarray(np.repeat(row[None], len(rows), 0)), None)
    for field in fields:
      np.testing.assert_array_equal(getattr(batched, field)[b],
                                    getattr(tiled, field)[b], err_msg=field)


def test_left_align_moves_each_prompt_to_the_start():
  prompt, lengths, rows = _ragged()
  got = np.asarray(left_align(prompt, lengths))
  for b, row in enumerate(rows):
    np.testing.assert_array_equal(got[b, :len(row)], row)
    assert (got[b, len(row):] == special_tokens.PAD).all()


def test_full_lengths_change_nothing():
  lm, _ = _models("decoder")
  prompt, _, _ = _ragged()
  full = jnp.full((prompt.shape[0],), WIDTH, jnp.int32)
  np.testing.assert_array_equal(
      generate(lm, prompt, NEW, prompt_lengths=full).tokens,
      generate(lm, prompt, NEW).tokens)


@pytest.mark.parametrize("kind", ["table", "decoder"])
def test_greedy(kind):
  lm, _ = _models(kind)
  _assert_rows_alone(
      lambda p, n: generate(lm, p, NEW, prompt_lengths=n), ["tokens"])


@pytest.mark.parametrize("kind", ["table", "decoder"])
def test_sampling_draws_depend_on_the_row_not_the_padding(kind):
  lm, _ = _models(kind)
  _assert_rows_as_tiled(
      lambda p, n: generate(lm, p, NEW, jax.random.key(1), temperature=1.0,
                            top_p=0.9, prompt_lengths=n), ["tokens"])


SPECULATIVE = {"speculative": speculative_generate, "pearl": pearl_generate}
COUNTERS = ["tokens", "rounds", "accepted", "rejections"]


@pytest.mark.parametrize("method", list(SPECULATIVE))
@pytest.mark.parametrize("kind", ["table", "decoder"])
def test_speculative_greedy(method, kind):
  target, draft = _models(kind)
  out = _assert_rows_alone(
      lambda p, n: SPECULATIVE[method](target, draft, p, NEW, gamma=3,
                                       prompt_lengths=n), COUNTERS)
  assert out.accepted.sum() > 0 and out.rejections.sum() > 0


@pytest.mark.parametrize("method", list(SPECULATIVE))
def test_speculative_sampling(method):
  target, draft = _models("table")
  _assert_rows_as_tiled(
      lambda p, n: SPECULATIVE[method](target, draft, p, NEW,
                                       jax.random.key(2), gamma=3,
                                       temperature=1.0, prompt_lengths=n),
      COUNTERS)


def test_pearl_on_two_devices_gives_the_one_device_result():
  target, draft = _models("table")
  prompt, lengths, _ = _ragged(3)
  args = (target, draft, prompt, NEW, jax.random.key(4))
  options = dict(gamma=3, temperature=1.0, prompt_lengths=lengths)
  one = pearl_generate(*args, **options)
  two = pearl_generate_two_devices(*args, **options,
                                   devices=jax.devices()[:2])
  for a, b in zip(one, two):
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("kind", ["table", "decoder"])
def test_prompt_lookup(kind):
  lm, _ = _models(kind)
  _assert_rows_alone(
      lambda p, n: tree_decode(lm, p, NEW, PromptLookup(ngram=1, num_draft=3),
                               (), prompt_lengths=n),
      ["tokens", "step_tokens"])


@pytest.mark.parametrize("kind", ["table", "decoder"])
def test_token_recycling(kind):
  # The adjacency matrix is shared by the batch, so drafts (and forward
  # counts) depend on the other rows; the tokens are greedy's all the same.
  lm, _ = _models(kind)
  _assert_rows_alone(
      lambda p, n: tree_decode(lm, p, NEW, TokenRecycling(num_nodes=8),
                               init_adjacency(V), prompt_lengths=n),
      ["tokens"])


@pytest.mark.parametrize("kind", ["table", "decoder"])
def test_aded(kind):
  # A frozen table drafts from each row's own last two tokens alone.
  lm, _ = _models(kind)
  corpus = np.random.default_rng(5).integers(0, V, 300)
  table = aded.trigram_table_from_corpus(corpus, num_buckets=1 << 10)
  drafter = aded.ADED(tree_size=6, num_simulations=6, adapt=False)
  _assert_rows_alone(
      lambda p, n: tree_decode(lm, p, NEW, drafter, table, prompt_lengths=n),
      ["tokens", "step_tokens"])


@pytest.mark.parametrize("kind, eos_id", [("table", 2), ("decoder", None)])
def test_beam_search(kind, eos_id):
  lm, _ = _models(kind)
  _assert_rows_alone(
      lambda p, n: beam_search(lm, p, 4, num_beams=3, eos_id=eos_id,
                               prompt_lengths=n),
      ["tokens", "lengths"], close=["scores", "log_probs"])


@pytest.mark.parametrize("kind", ["table", "decoder"])
def test_diverse_beam_search(kind):
  lm, _ = _models(kind)
  _assert_rows_alone(
      lambda p, n: diverse_beam_search(lm, p, 4, num_beams=4, num_groups=2,
                                       diversity_penalty=0.5, eos_id=2,
                                       prompt_lengths=n),
      ["tokens", "lengths"], close=["scores", "log_probs"])


@pytest.mark.parametrize("kind", ["table", "decoder"])
def test_momentum(kind):
  lm, _ = _models(kind)
  _assert_rows_alone(
      lambda p, n: momentum_generate(lm, p, NEW, top_k=V, alpha=0.5,
                                     prompt_lengths=n), ["tokens"])


@pytest.mark.parametrize("kind", ["table", "decoder"])
def test_lookahead(kind):
  lm, _ = _models(kind)
  out = _assert_rows_alone(
      lambda p, n: lookahead_generate(
          lm, p, NEW, placeholder=special_tokens.MASK, lookahead=3,
          beta=0.05, prompt_lengths=n), ["tokens", "row_forward_calls"])
  if kind == "table":  # not vacuous: steps decided several tokens
    assert (np.asarray(out.row_forward_calls) < NEW).any()


def test_superposed():
  lm, _ = _models("decoder")
  corpus = np.random.default_rng(6).integers(0, V, 400)
  table = ngram.build_ngram_table([corpus], V, max_order=4)
  _assert_rows_alone(
      lambda p, n: superposed.superposed_decode(
          lm, p, NEW, table, num_drafts=3, n_token_sample=5, alpha=0.5,
          ngram_weights=(1.0, 1.0, 1.0), prompt_lengths=n),
      ["tokens"], close=["scores"])


@functools.cache
def _mdm(attention):
  cfg = DiffusionConfig(
      decoder=DecoderConfig(vocab_size=V, embed_dim=16, num_layers=2,
                            num_heads=2, num_kv_heads=1, mlp_dim=32),
      prompt_len=WIDTH, block_len=4, attention=attention)
  tokens = jnp.zeros((1, WIDTH + 8), jnp.int32)
  params = MaskedDiffusionLM(cfg).init(jax.random.key(7), tokens)["params"]
  return denoiser(cfg, params)


@pytest.mark.parametrize("attention, cached, eot", [
    ("bidirectional", False, False), ("block_causal", True, False),
    ("bidirectional", True, True)])
def test_diffusion(attention, cached, eot):
  model = _mdm(attention)
  out = _assert_rows_alone(
      lambda p, n: diffusion_generate(
          model, p, gen_len=8, block_len=4,
          rule=UnmaskRule("threshold", threshold=0.1), attention=attention,
          cached=cached, eot_truncation=eot, prompt_lengths=n),
      ["tokens", "nfe"])
  assert (np.asarray(out.nfe) < 8).any(), "some step must decode > 1"

