"""SambaY and its two baselines on `mqar` (multi-query associative recall).

    python -m train --config train/configs/sambay.py[:model=yoco|transformer]

`model`: "sambay" (8 layers, width 64, 4 heads, SwiGLU 128, window 16,
Mamba state 16, NoPE), "yoco" (Samba+YOCO: the GMU layer becomes
cross-attention) or "transformer" (the zoo's decoder, 8 full-attention
layers with RoPE, its MLP widened to 155 so that its parameters match
SambaY's within 3%; trained as the `decoder_lm` system). Loss only on the
16 recalled values. AdamW 3e-3, warmup 50, cosine, clipping 1.0, batch 32,
`STEPS` steps (fixed from the 3-minute budget per run: SambaY's step took
1.5 s at batch 32 with the machine's 2 cores shared five ways, ~0.35 s
expected alone). `:smoke`: 10 steps of a 4-layer width-16 SambaY.
"""

import dataclasses

from train.config import DataConfig, OptimConfig, TrainConfig, parse_arg
from train.data.builders import mqar
from zoo.errors import ConfigError
from zoo.lm.decoder import DecoderConfig
from zoo.lm.mamba import MambaConfig
from zoo.lm.sambay import SambaYConfig

STEPS = 500
VOCAB = mqar.RECIPE.vocab_size
SAMBAY = SambaYConfig(vocab_size=VOCAB, embed_dim=64, num_layers=8,
                      num_heads=4, mlp_dim=128, window=16)
TRANSFORMER = DecoderConfig(vocab_size=VOCAB, embed_dim=64, num_layers=8,
                            num_heads=4, mlp_dim=155)
SMOKE = SambaYConfig(vocab_size=VOCAB, embed_dim=16, num_layers=4,
                     num_heads=2, mlp_dim=32, window=8,
                     mamba=MambaConfig(d_state=4))
MODELS = ("sambay", "yoco", "transformer")


def get_config(arg: str = ""):
  args = parse_arg(arg, smoke=False, seed=0, model="sambay")
  if args.model not in MODELS:
    raise ConfigError(f"sambay.py: model must be one of {MODELS}, got "
                      f"{args.model!r}")
  system, task, model = "sambay", "", SMOKE if args.smoke else SAMBAY
  if args.model == "yoco":
    model = dataclasses.replace(model, memory="cross_attention")
  elif args.model == "transformer":
    system, model = "decoder_lm", TRANSFORMER
    task = "train.tasks.lm_masked_next_token:TASK"
  return TrainConfig(
      system=system,
      model=model,
      task=task,
      data=DataConfig(name="mqar", eval_split="test", batch_size=32,
                      eval_batch_size=250),
      optim=OptimConfig(name="adamw", learning_rate=3e-3, weight_decay=0.01,
                        warmup_steps=2 if args.smoke else 50,
                        schedule="cosine", grad_clip_norm=1.0),
      steps=10 if args.smoke else STEPS,
      seed=args.seed,
      log_every=5 if args.smoke else 100,
      ckpt_every=10 if args.smoke else STEPS,
  )
