"""The lexicon language: its recipe, exact source probabilities and floor."""

import dataclasses

import numpy as np
import pytest

from train import config as config_lib
from train.data.builders import lexicon_text as lex
from train.store import lm as lm_store
from zoo.lm import special_tokens

SMALL = dataclasses.replace(lex.RECIPE, num_words=40, window=64,
                            num_train=30, num_validation=10)


@pytest.fixture(scope="module")
def corpus():
  return lex.generate(SMALL, seed=3)


def test_lexicon_follows_the_recipe(corpus):
  language = corpus.language
  assert len(set(language.words)) == SMALL.num_words
  assert all(SMALL.min_letters <= len(w) <= SMALL.max_letters
             for w in language.words)
  own = language.successors == np.arange(SMALL.num_words)[:, None]
  assert not own.any()
  assert all(len(set(row)) == len(row) for row in language.successors)
  np.testing.assert_allclose(language.transitions().sum(1), 1.0)


def test_same_seed_same_corpus(corpus):
  again = lex.generate(SMALL, seed=3)
  assert again.language.words == corpus.language.words
  for split in ("train", "validation"):
    np.testing.assert_array_equal(again.tokens(split), corpus.tokens(split))


def test_tokens_are_the_tokenizers_characters(corpus):
  tok = lex.tokenizer()
  rows = corpus.tokens("validation")
  assert rows.shape == (SMALL.num_validation, SMALL.window + 1)
  assert (rows[:, 0] == special_tokens.BOS).all()
  assert rows.max() < lex.RECIPE.vocab_size == tok.get_vocab_size()
  text = lex.render(corpus.language, corpus.walks["validation"][0])
  assert tok.encode(text).ids == rows[0, 1:].tolist()
  assert tok.decode(rows[0].tolist()) == text


def test_source_log_probs_multiply_to_the_word_probabilities(corpus):
  # Per character, the source's probabilities telescope: over whole words
  # (with their spaces) they give the grammar's probability of the words.
  language = corpus.language
  probs = np.log(SMALL.successor_probs)
  for walk in corpus.walks["validation"]:
    logp = lex.source_log_probs(language, walk)
    assert logp.shape == (SMALL.window,) and (logp <= 1e-12).all()
    ends = np.cumsum([len(language.words[w]) + 1 for w in walk])
    whole = int(np.sum(ends <= SMALL.window))
    expected = np.log(language.popularity[walk[0]]) + sum(
        probs[list(language.successors[a]).index(b)]
        for a, b in zip(walk[:whole - 1], walk[1:whole]))
    np.testing.assert_allclose(logp[:ends[whole - 1]].sum(), expected,
                               rtol=1e-9)


def test_entropy_rate_matches_a_long_walk():
  recipe = dataclasses.replace(SMALL, window=30_000)
  rng = np.random.default_rng(0)
  language = lex.make_language(rng, recipe)
  walk = lex.walks(language, 1, rng)[0]
  # The first word is drawn by popularity, not the chain: negligible here.
  empirical = -lex.source_log_probs(language, walk).mean()
  np.testing.assert_allclose(empirical, language.entropy_rate(), rtol=0.05)


def test_lexicon_configs_and_seeded_workdirs():
  target = config_lib.load_config(lm_store.CONFIGS["lexicon"] + ",seed=2")
  draft = config_lib.load_config(lm_store.CONFIGS["lexicon_draft"])
  assert target.data.name == draft.data.name == "lexicon_text"
  assert target.seed == 2
  assert target.model.vocab_size >= lex.RECIPE.vocab_size
  assert draft.model.embed_dim < target.model.embed_dim
  assert lm_store.workdir_for("lexicon").name == "lexicon"
  assert lm_store.workdir_for("lexicon", seed=2).name == "lexicon_seed2"
  assert lm_store.workdir_for("text", True, 1).name == "text_seed1_smoke"
