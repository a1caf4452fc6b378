"""Parity with transformers itself, where torch and transformers are
installed (`pip install torch==2.13.0 transformers`); skipped otherwise.

Fresh random models of each family, in variants the saved goldens do not
cover (linear rope scaling, attention and MLP biases, a head width other
than width / heads, exact GELU, untied heads), are saved with
`save_pretrained` and loaded here: logits agree to 1e-4 on left-padded
prompts, and greedy and beam search agree with `generate` token for token.
The exporter's files are read back by `from_pretrained`.
"""

import numpy as np
import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from tests.data import make_lm_checkpoints as make  # noqa: E402
from tests.zoo.test_checkpoints import (  # noqa: E402
  DATA,
  FAMILIES,
  loaded,
  random_params,
  real_logits,
)
from zoo.lm import checkpoints  # noqa: E402
from zoo.lm.decoder import DecoderConfig  # noqa: E402

VARIANTS = {
    "llama": ("llama", make.GOLDEN_CONFIGS["llama"]),
    "llama_linear_rope_biases_wide_heads": ("llama", dict(
        rope_parameters=dict(rope_type="linear", factor=2.0,
                             rope_theta=500.0),
        attention_bias=True, mlp_bias=True, head_dim=32,
        num_key_value_heads=1, tie_word_embeddings=True)),
    "qwen2_untied": ("qwen2", dict(tie_word_embeddings=False)),
    "gpt2_exact_gelu_untied": ("gpt2", dict(activation_function="gelu",
                                            tie_word_embeddings=False,
                                            n_inner=None)),
}
# Rows of lengths 10, 3, 7, 1 and 10 (the same row twice, padded apart).
MORE_PROMPTS = ([9, 8, 7, 6, 5, 4, 3, 2, 1, 0], [100, 101, 127],
                [1, 2, 3, 1, 2, 3, 1], [126], [9, 8, 7, 6, 5, 4, 3, 2, 1, 0])


def assert_matches(lm, e) -> float:
  """Logits, greedy and beams of `lm` equal reference() `e`; returns the
  largest logit difference."""
  from ops.decoding import sampling  # noqa: PLC0415
  from ops.decoding.beam import beam_search  # noqa: PLC0415

  diff = np.abs(real_logits(lm, e) - e["logits"]).max()
  assert diff < 1e-4
  prompt, lengths = e["prompt"], e["lengths"]
  new, beams = e["beams"].shape[2], e["beams"].shape[1]
  greedy = sampling.generate(lm, prompt, new, prompt_lengths=lengths)
  np.testing.assert_array_equal(greedy.tokens, e["greedy"])
  beam = beam_search(lm, prompt, new, num_beams=beams, prompt_lengths=lengths)
  np.testing.assert_array_equal(beam.tokens, e["beams"])
  np.testing.assert_allclose(beam.scores, e["beam_scores"], atol=1e-4)
  return float(diff)


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_a_saved_model_decodes_as_transformers_does(variant, tmp_path):
  family, overrides = VARIANTS[variant]
  model = make.random_model(make.config(family, **overrides), seed=1)
  model.save_pretrained(tmp_path)
  lm = checkpoints.load(tmp_path, tokenizer=False).lm
  for prompts in (make.PROMPTS, MORE_PROMPTS):
    e = make.reference(model, *make.left_padded(prompts))
    assert e["min_margin"] > 1e-3  # no near-tie for the frameworks to split
    assert_matches(lm, e)


@pytest.mark.parametrize("family", FAMILIES)
def test_transformers_reads_what_the_exporter_writes(family, tmp_path):
  ckpt = loaded(family)
  checkpoints.save(tmp_path / family, ckpt.config, ckpt.params,
                   family=family, hf_config=ckpt.hf_config)
  model = transformers.AutoModelForCausalLM.from_pretrained(
      tmp_path / family).eval()
  e = dict(np.load(DATA / family / "expected.npz"))
  theirs = make.reference(model, e["prompt"], e["lengths"])
  np.testing.assert_allclose(theirs["logits"], e["logits"], atol=1e-4)


def test_the_zoos_own_decoder_is_a_llama_for_transformers(tmp_path):
  config = DecoderConfig(vocab_size=128, embed_dim=32, num_layers=2,
                         num_heads=2, mlp_dim=48)
  checkpoints.save(tmp_path / "zoo", config, random_params(config, 3),
                   family="llama")
  model = transformers.AutoModelForCausalLM.from_pretrained(
      tmp_path / "zoo").eval()
  e = make.reference(model, *make.left_padded(MORE_PROMPTS))
  assert_matches(checkpoints.load(tmp_path / "zoo", tokenizer=False).lm, e)
