"""Writes tests/data/lm_checkpoints/: tiny Llama, Qwen2 and GPT-2 checkpoints
made by transformers, and transformers' outputs on them.

Run on a machine with torch and transformers (the tests that read the
files need neither; `tests/zoo/test_checkpoints_live.py` imports this
module to build fresh models when both are installed):

    pip install torch==2.13.0 transformers
    python tests/data/make_lm_checkpoints.py

Each family's folder is what `save_pretrained` writes for a random model of
2 layers and width 64, built from transformers' config classes (nothing is
downloaded), with weights drawn large enough that logits spread over a few
units, rounded to the dtype the folder stores them in:

  llama/  LlamaForCausalLM, grouped-query attention, Llama 3.1 rope
          scaling, separate head; bfloat16, one model.safetensors
  qwen2/  Qwen2ForCausalLM, query/key/value biases, tied head; bfloat16,
          shards with model.safetensors.index.json
  gpt2/   GPT2LMHeadModel, learned positions, LayerNorm, GELU; float16

plus a small BPE `tokenizer.json` (the same file in each), and
`expected.npz`: for PROMPTS, left-padded with attention masks,
  prompt [B, P] int32, lengths [B] int32
  logits [sum(lengths), V] f32, the real positions' logits, row by row
  greedy [B, NEW] int32, `generate` with greedy search
  beams [B, BEAMS, NEW] int32 and beam_scores [B, BEAMS] f32, `generate`
    with beam search (no EOS), best first
  min_margin: the smallest top-1 minus top-2 logit along the greedy paths
  versions [2] str, torch and transformers
"""

import os
import pathlib
import string

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np  # noqa: E402
import tokenizers  # noqa: E402
import torch  # noqa: E402
import transformers  # noqa: E402
from tokenizers import decoders, models, pre_tokenizers, trainers  # noqa: E402

OUT = pathlib.Path(__file__).resolve().parent / "lm_checkpoints"
VOCAB, NEW, BEAMS = 128, 8, 3
# Prompts of lengths 12, 5, 9 and 1 (left-padded to 12 with id 0).
PROMPTS = ([5, 17, 33, 2, 90, 41, 41, 8, 60, 73, 12, 3], [44, 9, 70, 1, 38],
           [3, 3, 3, 64, 29, 81, 15, 50, 6], [77])
TEXT = (
    "A tiny tokenizer for tiny checkpoints. Language models read text as "
    "token ids; decoding strategies turn their logits into new text, one "
    "token or many at a time. The quick brown fox jumps over the lazy dog. "
    "def main(argv): return 0  # (brackets) [lists] {dicts} 0123456789")


def tokenizer() -> tokenizers.Tokenizer:
  """A BPE tokenizer of VOCAB ids, trained on TEXT, that knows every
  printable ASCII character (others are <unk>)."""
  tok = tokenizers.Tokenizer(models.BPE(unk_token="<unk>"))
  tok.pre_tokenizer = pre_tokenizers.Metaspace()
  tok.decoder = decoders.Metaspace()
  trainer = trainers.BpeTrainer(
      vocab_size=VOCAB, special_tokens=["<unk>", "<s>", "</s>"],
      initial_alphabet=list(string.printable[:94] + "\n"),
      show_progress=False)
  tok.train_from_iterator([TEXT], trainer=trainer)
  return tok


def config(family: str, **overrides):
  """A transformers config of 2 layers, width 64, VOCAB ids; `overrides`
  replace or add keys."""
  common = dict(vocab_size=VOCAB, bos_token_id=1, eos_token_id=2,
                pad_token_id=0)
  if family == "gpt2":
    return transformers.GPT2Config(**{
        **common, "n_embd": 64, "n_layer": 2, "n_head": 4, "n_inner": 64,
        "n_positions": 64, "activation_function": "gelu_new", **overrides})
  cls = {"llama": transformers.LlamaConfig,
         "qwen2": transformers.Qwen2Config}[family]
  return cls(**{**common, "hidden_size": 64, "intermediate_size": 96,
                "num_hidden_layers": 2, "num_attention_heads": 4,
                "num_key_value_heads": 2, "max_position_embeddings": 64,
                **overrides})


GOLDEN_CONFIGS = {
    "llama": dict(rms_norm_eps=1e-5, tie_word_embeddings=False,
                  rope_parameters=dict(
                      rope_type="llama3", rope_theta=10_000.0, factor=8.0,
                      low_freq_factor=1.0, high_freq_factor=4.0,
                      original_max_position_embeddings=16)),
    "qwen2": dict(tie_word_embeddings=True,
                  rope_parameters=dict(rope_type="default",
                                       rope_theta=1_000_000.0)),
    "gpt2": {},
}
STORED = {"llama": torch.bfloat16, "qwen2": torch.bfloat16,
          "gpt2": torch.float16}


def random_model(cfg, seed: int, dtype=torch.float32):
  """The causal LM of `cfg` with weights N(0, 0.15) (0.3 for embeddings and
  head), norms 1 + N(0, 0.1) and biases N(0, 0.1), each rounded to `dtype`
  and kept in float32."""
  torch.manual_seed(seed)
  model = transformers.AutoModelForCausalLM.from_config(cfg).float().eval()
  with torch.no_grad():
    for name, p in model.named_parameters():
      if "norm" in name or name.split(".")[-2].startswith("ln_"):
        value = (1.0 if name.endswith("weight") else 0.0) + 0.1 * torch.randn(
            p.shape)
      elif name.endswith("bias"):
        value = 0.1 * torch.randn(p.shape)
      else:
        scale = 0.3 if ("embed" in name or "wte" in name or "lm_head" in name
                        ) else 0.15
        value = scale * torch.randn(p.shape)
      p.copy_(value.to(dtype).float())
  return model


def left_padded(prompts=PROMPTS) -> tuple[np.ndarray, np.ndarray]:
  """(prompt [B, P] int32 left-padded with 0, lengths [B] int32)."""
  width = max(len(p) for p in prompts)
  out = np.zeros((len(prompts), width), np.int32)
  for i, p in enumerate(prompts):
    out[i, width - len(p):] = p
  return out, np.array([len(p) for p in prompts], np.int32)


def reference(model, prompt: np.ndarray, lengths: np.ndarray, *,
              new: int = NEW, beams: int = BEAMS) -> dict[str, np.ndarray]:
  """transformers' logits, greedy and beam outputs (see the module doc)."""
  ids = torch.tensor(prompt, dtype=torch.long)
  width = prompt.shape[1]
  mask = (torch.arange(width)[None] >= torch.tensor(
      width - lengths)[:, None]).long()
  positions = (mask.cumsum(-1) - 1).clamp(min=0)
  with torch.no_grad():
    logits = model(input_ids=ids, attention_mask=mask,
                   position_ids=positions).logits.float().numpy()
    common = dict(attention_mask=mask, max_new_tokens=new, do_sample=False,
                  eos_token_id=None, pad_token_id=0)
    greedy = model.generate(ids, num_beams=1, output_scores=True,
                            return_dict_in_generate=True, **common)
    beam = model.generate(ids, num_beams=beams, num_return_sequences=beams,
                          length_penalty=1.0, early_stopping=False,
                          output_scores=True, return_dict_in_generate=True,
                          **common)
  real = mask.numpy().astype(bool)
  steps = torch.stack(greedy.scores, 1).float()
  top2 = steps.topk(2, -1).values
  return {
      "prompt": prompt, "lengths": lengths,
      "logits": logits[real].astype(np.float32),
      "greedy": greedy.sequences[:, width:].numpy().astype(np.int32),
      "beams": beam.sequences[:, width:].numpy().astype(np.int32).reshape(
          len(prompt), beams, new),
      "beam_scores": beam.sequences_scores.float().numpy().reshape(
          len(prompt), beams),
      "min_margin": np.float32((top2[..., 0] - top2[..., 1]).min()),
  }


def write(family: str, folder: pathlib.Path, seed: int = 0) -> dict:
  """Saves the family's golden checkpoint to `folder`; returns reference()."""
  cfg = config(family, **GOLDEN_CONFIGS[family])
  stored = STORED[family]
  model = random_model(cfg, seed, stored)
  expected = reference(model, *left_padded())
  shard = "60KB" if family == "qwen2" else "50GB"
  model.to(stored).save_pretrained(folder, max_shard_size=shard)
  tokenizer().save(str(folder / "tokenizer.json"))
  np.savez_compressed(folder / "expected.npz", **expected,
                      versions=np.array([torch.__version__,
                                         transformers.__version__]))
  return expected


def main() -> None:
  for family in GOLDEN_CONFIGS:
    folder = OUT / family
    for old in folder.glob("*"):
      old.unlink()
    expected = write(family, folder)
    size = sum(p.stat().st_size for p in folder.iterdir())
    print(f"{family}: {size} bytes, min greedy margin "
          f"{expected['min_margin']:.4f}")
    assert expected["min_margin"] > 1e-3, "pick another seed"


if __name__ == "__main__":
  main()
