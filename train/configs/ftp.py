"""FTP and its GPT baseline on `stdlib_text_bpe`.

    python -m train --config train/configs/ftp.py[:model=gpt]

`model`: "ftp" (a 4-layer width-128 causal encoder, 4 heads, SwiGLU 384;
N = 4 future tokens from P = 4 pseudo-tokens, g = 0.8, 16 positions per
window) or "gpt" (the same encoder as the zoo's decoder, next-token loss;
trained as the `decoder_lm` system). AdamW 3e-3, warmup 30, cosine,
clipping 1.0, batch 16 windows, `STEPS` steps (fixed from the 3-minute
budget per run). The train command reads the corpus's windows of 256; the
claim check reads each as two windows of 128 (the spec's length).
`:smoke`: 10 steps of a 1-layer width-32 FTP.
"""

from train.config import DataConfig, OptimConfig, TrainConfig, parse_arg
from zoo.errors import ConfigError
from zoo.lm.decoder import DecoderConfig
from zoo.lm.ftp import FTPConfig

STEPS = 400
FTP = FTPConfig()
SMOKE = FTPConfig(encoder=DecoderConfig(vocab_size=2048, embed_dim=32,
                                        num_layers=1, num_heads=2,
                                        mlp_dim=64), decoder_mlp_dim=64)
MODELS = ("ftp", "gpt")


def get_config(arg: str = ""):
  args = parse_arg(arg, smoke=False, seed=0, model="ftp")
  if args.model not in MODELS:
    raise ConfigError(f"ftp.py: model must be one of {MODELS}, got "
                      f"{args.model!r}")
  model = SMOKE if args.smoke else FTP
  system, task = "ftp", ""
  if args.model == "gpt":
    system, model = "decoder_lm", model.encoder
    task = "train.tasks.lm_next_token:TASK"
  return TrainConfig(
      system=system,
      model=model,
      task=task,
      data=DataConfig(name="stdlib_text_bpe", eval_split="validation",
                      batch_size=16, eval_batch_size=32),
      optim=OptimConfig(name="adamw", learning_rate=3e-3, weight_decay=0.01,
                        warmup_steps=2 if args.smoke else 30,
                        schedule="cosine", grad_clip_norm=1.0),
      steps=10 if args.smoke else STEPS,
      seed=args.seed,
      log_every=5 if args.smoke else 100,
      ckpt_every=10 if args.smoke else STEPS,
  )

