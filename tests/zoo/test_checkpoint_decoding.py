"""Every decoding strategy of `ops.decoding` on a loaded checkpoint.

The target is the tiny Llama checkpoint of tests/data/lm_checkpoints, read
by `zoo.lm.checkpoints.load`; the draft of the speculative decoders is a
smaller Llama of the same vocabulary that `checkpoints.save` writes and
`load` reads back. The
prompts are left-padded rows of different lengths. Lossless decoders must
give exactly greedy decoding's tokens; the others must run and give tokens
of the vocabulary.
"""

import pathlib

import jax
import numpy as np
import pytest
from jax import numpy as jnp

from ops.decoding import aded, exact_extract, ngram, superposed
from ops.decoding.beam import beam_search
from ops.decoding.diffusion import generate as diffusion_generate
from ops.decoding.diverse_beam import diverse_beam_search
from ops.decoding.learn2pd import Filter
from ops.decoding.lud import lookahead_generate
from ops.decoding.momentum import momentum_generate
from ops.decoding.pearl import pearl_generate
from ops.decoding.prompt_lookup import PromptLookup
from ops.decoding.sampling import generate
from ops.decoding.speculative import speculative_generate
from ops.decoding.token_recycling import TokenRecycling, init_adjacency
from ops.decoding.tree_decode import tree_decode
from ops.decoding.unmask import UnmaskRule
from zoo.lm import checkpoints
from zoo.lm.decoder import DecoderConfig

DATA = pathlib.Path(__file__).resolve().parents[1] / "data" / "lm_checkpoints"
NEW = 8
# Left-padded prompts of lengths 7 and 4, with repeats for the n-gram
# drafters to find.
PROMPT = jnp.array([[40, 41, 42, 40, 41, 42, 40], [0, 0, 0, 9, 70, 9, 70]],
                   jnp.int32)
LENGTHS = jnp.array([7, 4], jnp.int32)


@pytest.fixture(scope="module")
def target():
  return checkpoints.load(DATA / "llama").lm


@pytest.fixture(scope="module")
def draft(target, tmp_path_factory):
  """A 1-layer Llama of the target's vocabulary, saved and loaded back."""
  config = DecoderConfig(vocab_size=target.vocab_size, embed_dim=32,
                         num_layers=1, num_heads=2, mlp_dim=48)
  rng = np.random.default_rng(0)
  params = jax.tree.map(lambda s: rng.normal(0, 0.3, s.shape).astype(
      np.float32), checkpoints.abstract_params(config))
  folder = tmp_path_factory.mktemp("draft") / "llama"
  checkpoints.save(folder, config, params, family="llama")
  return checkpoints.load(folder, tokenizer=False).lm


@pytest.fixture(scope="module")
def greedy(target):
  return np.asarray(generate(target, PROMPT, NEW,
                             prompt_lengths=LENGTHS).tokens)


def _corpus(size: int) -> np.ndarray:
  return np.random.default_rng(1).integers(0, 128, size)


LOSSLESS = {
    "speculative": lambda t, d: speculative_generate(
        t, d, PROMPT, NEW, gamma=3, prompt_lengths=LENGTHS),
    "pearl": lambda t, d: pearl_generate(t, d, PROMPT, NEW, gamma=3,
                                         prompt_lengths=LENGTHS),
    "token_recycling": lambda t, d: tree_decode(
        t, PROMPT, NEW, TokenRecycling(num_nodes=8, max_depth=3),
        init_adjacency(t.vocab_size), prompt_lengths=LENGTHS),
    "aded": lambda t, d: tree_decode(
        t, PROMPT, NEW, aded.ADED(tree_size=6, num_simulations=6),
        aded.trigram_table_from_corpus(_corpus(300), num_buckets=1 << 10),
        prompt_lengths=LENGTHS),
    "prompt_lookup": lambda t, d: tree_decode(
        t, PROMPT, NEW, PromptLookup(ngram=2, num_draft=3), (),
        prompt_lengths=LENGTHS),
    "lud_beta_above_1": lambda t, d: lookahead_generate(
        t, PROMPT, NEW, placeholder=3, lookahead=3, beta=1.5,
        prompt_lengths=LENGTHS),
}


@pytest.mark.parametrize("method", list(LOSSLESS))
def test_lossless_decoders_give_greedy_tokens(method, target, draft, greedy):
  out = LOSSLESS[method](target, draft)
  np.testing.assert_array_equal(out.tokens, greedy)


def _in_vocab(tokens, vocab_size: int = 128) -> None:
  tokens = np.asarray(tokens)
  assert tokens.size and tokens.min() >= 0 and tokens.max() < vocab_size


OTHERS = {
    "sampling": lambda t: generate(t, PROMPT, NEW, jax.random.key(0),
                                   temperature=1.0, top_p=0.9,
                                   prompt_lengths=LENGTHS),
    "beam": lambda t: beam_search(t, PROMPT, NEW, num_beams=3, eos_id=2,
                                  prompt_lengths=LENGTHS),
    "diverse_beam": lambda t: diverse_beam_search(
        t, PROMPT, NEW, num_beams=4, num_groups=2, diversity_penalty=0.5,
        prompt_lengths=LENGTHS),
    "momentum": lambda t: momentum_generate(t, PROMPT, NEW, top_k=5,
                                            prompt_lengths=LENGTHS),
    "lud_lookahead": lambda t: lookahead_generate(
        t, PROMPT, NEW, placeholder=3, lookahead=3, beta=0.05,
        prompt_lengths=LENGTHS),
    "superposed": lambda t: superposed.superposed_decode(
        t, PROMPT, NEW, ngram.build_ngram_table([_corpus(400)], 128,
                                                max_order=4),
        num_drafts=3, n_token_sample=5, ngram_weights=(1.0, 1.0, 1.0),
        prompt_lengths=LENGTHS),
    "diffusion": lambda t: diffusion_generate(
        t, PROMPT, gen_len=8, block_len=4,
        rule=UnmaskRule("threshold", threshold=0.5), prompt_lengths=LENGTHS),
    "learn2pd_cached": lambda t: diffusion_generate(
        t, PROMPT, gen_len=8, block_len=4,
        rule=UnmaskRule("filter", threshold=0.5), cached=True,
        learned_filter=Filter.init(jax.random.key(0), 4),
        eot_truncation=True, prompt_lengths=LENGTHS),
}


@pytest.mark.parametrize("method", list(OTHERS))
def test_other_decoders_run(method, target):
  _in_vocab(OTHERS[method](target).tokens)


def test_exact_extract_scores_spans(target):
  # Right-padded prompts, this scorer's convention.
  prompt = jnp.array([[5, 6, 7, 8, 9, 10, 11, 12], [20, 21, 22, 23, 0, 0, 0,
                                                     0]], jnp.int32)
  lengths, start = jnp.array([8, 4]), jnp.array([0, 0])
  passage = jnp.array([6, 3])
  scores = exact_extract.span_scores(
      target, prompt, lengths, start, passage, max_passage_len=6,
      max_answer_len=2, stop_id=2)
  assert np.isfinite(np.asarray(scores)[0, :5]).all()
  span = exact_extract.best_span(scores)
  assert (np.asarray(span.start) < np.asarray(passage)).all()
