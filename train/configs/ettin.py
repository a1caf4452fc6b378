"""Ettin's paired encoder and decoder on `stdlib_text_bpe`.

    python -m train --config train/configs/ettin.py[:model=decoder]

`model`: "encoder" (MLM at 30%, `train.tasks.mlm`) or "decoder" (next-token
loss, `train.tasks.lm_next_token`): one `EttinConfig`, 4 layers of width
128, 4 heads, GeGLU 192 (the 17M model's 1.5x), window 32 (the spec's 128
at length 1,024, scaled to 128), layers 0 and 3 global, RoPE 10k/160k;
only `causal` differs, so both have the same parameters. AdamW 3e-3
(weight decay 3e-4, Ettin's), warmup 30, cosine, clipping 1.0, batch 16
windows, `STEPS` steps; `CONTINUE_STEPS` more (warmup 10, a fresh
optimizer) continue a trained model with either objective in the claim.
The train command reads the corpus's windows of 256; the claim check reads
each as two windows of 128 (the spec's length).

N = `STEPS` and E = `CONTINUE_STEPS` were fixed from a measured step time
before any claim run: the 4 runs (encoder N, decoder N, then E steps for
each of the 2 natives and 2 crosses: 2N + 4E steps) must fit the issue's
15 minutes with probes and evaluation, on this machine shared with other
jobs (load ~7 on 2 cores): see `eval/claims/ettin.py`.
`:smoke`: 10 steps of a 2-layer width-32 model.
"""

import dataclasses

from train.config import DataConfig, OptimConfig, TrainConfig, parse_arg
from zoo.errors import ConfigError
from zoo.lm.ettin import EttinConfig

STEPS = 300
CONTINUE_STEPS = 100
ENCODER = EttinConfig()
SMOKE = EttinConfig(embed_dim=32, num_layers=2, num_heads=2, mlp_dim=48,
                    window=8)
TASKS = {"encoder": "train.tasks.mlm:TASK",
         "decoder": "train.tasks.lm_next_token:TASK"}


def get_config(arg: str = ""):
  args = parse_arg(arg, smoke=False, seed=0, model="encoder",
                   continued=False)
  if args.model not in TASKS:
    raise ConfigError(f"ettin.py: model must be one of {tuple(TASKS)}, got "
                      f"{args.model!r}")
  model = dataclasses.replace(SMOKE if args.smoke else ENCODER,
                              causal=args.model == "decoder")
  if args.smoke:
    steps, warmup = 10, 2
  elif args.continued:
    steps, warmup = CONTINUE_STEPS, 10
  else:
    steps, warmup = STEPS, 30
  return TrainConfig(
      system="ettin",
      model=model,
      task=TASKS[args.model],
      data=DataConfig(name="stdlib_text_bpe", eval_split="validation",
                      batch_size=16, eval_batch_size=32),
      optim=OptimConfig(name="adamw", learning_rate=3e-3,
                        weight_decay=3e-4, warmup_steps=warmup,
                        schedule="cosine", grad_clip_norm=1.0),
      steps=steps,
      seed=args.seed,
      log_every=5 if args.smoke else 100,
      ckpt_every=steps,
  )
