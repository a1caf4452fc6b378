"""Decoder LMs on the stdlib corpora: the targets and drafts of decoding.

    python -m train --config train/configs/lm.py:corpus=text,size=target

`corpus`: "text" (docstrings and reference topics, `stdlib_text_bpe`) or
"code" (source files, `stdlib_code_bpe`); both byte-level BPE with 2048 ids
and windows of 256 tokens. `size`: "target" (4 layers, width 192, 2.2M
parameters; 1000 steps, about 6 epochs of the text corpus, 10-20 minutes on
two CPU cores) or "draft" (2 layers, width 64, 0.24M; 600 steps). AdamW 3e-3
with warmup and cosine decay, batch 16. `:smoke` trains a 1-layer
width-32 model for 20 steps.

`corpus=lexicon`: the synthetic language of `lexicon_text` (multi-token
pseudo-words under a peaked bigram grammar, 31 character ids, known entropy
floor), for the decoding claims that need a target sure of multi-token
units. Its sizes are smaller, so three seeds of each train in minutes on two
CPU cores: "target" (3 layers, width 64, 0.12M parameters) and "draft" (2
layers, width 32, 0.02M), 300 steps each (1.2M tokens, under a tenth of
the train split: the source is learned long before it repeats). `seed=N`
seeds the initialization and the data order (the language is fixed).
"""

from train.config import DataConfig, OptimConfig, TrainConfig, parse_arg
from zoo.errors import ConfigError
from zoo.lm.decoder import DecoderConfig

SIZES = {
    "target": DecoderConfig(vocab_size=2048, embed_dim=192, num_layers=4,
                            num_heads=3, mlp_dim=512),
    "draft": DecoderConfig(vocab_size=2048, embed_dim=64, num_layers=2,
                           num_heads=2, mlp_dim=192),
    "smoke": DecoderConfig(vocab_size=2048, embed_dim=32, num_layers=1,
                           num_heads=2, mlp_dim=64),
}
# lexicon_text has 31 ids (4 special, the space, a-z); one spare.
LEXICON_VOCAB = 32
LEXICON_SIZES = {
    "target": DecoderConfig(vocab_size=LEXICON_VOCAB, embed_dim=64,
                            num_layers=3, num_heads=2, mlp_dim=192),
    "draft": DecoderConfig(vocab_size=LEXICON_VOCAB, embed_dim=32,
                           num_layers=2, num_heads=2, mlp_dim=96),
    "smoke": DecoderConfig(vocab_size=LEXICON_VOCAB, embed_dim=32,
                           num_layers=1, num_heads=2, mlp_dim=64),
}
LEXICON_STEPS = {"target": 300, "draft": 300}
DATASETS = {"text": "stdlib_text_bpe", "code": "stdlib_code_bpe",
            "lexicon": "lexicon_text"}


def get_config(arg: str = ""):
  args = parse_arg(arg, smoke=False, seed=0, corpus="text", size="target")
  if args.corpus not in DATASETS:
    raise ConfigError(f"lm.py: corpus must be one of {', '.join(DATASETS)}, "
                      f"got {args.corpus!r}")
  if args.size not in ("target", "draft"):
    raise ConfigError(f"lm.py: size must be target or draft, got "
                      f"{args.size!r}")
  lexicon = args.corpus == "lexicon"
  sizes = LEXICON_SIZES if lexicon else SIZES
  if args.smoke:
    steps = 20
  elif lexicon:
    steps = LEXICON_STEPS[args.size]
  else:
    steps = 1000 if args.size == "target" else 600
  return TrainConfig(
      system="decoder_lm",
      model=sizes["smoke" if args.smoke else args.size],
      data=DataConfig(name=DATASETS[args.corpus],
                      eval_split="validation", batch_size=16,
                      eval_batch_size=32),
      optim=OptimConfig(name="adamw", learning_rate=3e-3, weight_decay=0.01,
                        warmup_steps=5 if args.smoke else 50,
                        schedule="cosine",
                        grad_clip_norm=1.0),
      steps=steps,
      seed=args.seed,
      log_every=5 if args.smoke else 50,
      ckpt_every=10 if args.smoke else 250,
  )
