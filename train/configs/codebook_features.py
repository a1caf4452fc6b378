"""Codebook Features on TokFSM: a small decoder with codebooks on every
head's output and every MLP's output.

    python -m train --config train/configs/codebook_features.py[:baseline]

The zoo's decoder, 2 layers of width 64 (4 heads of 16, SwiGLU 192), on
`tokfsm` (64 tokens per sequence); K=100 codes and k=1 at `attn_preproj`
(one codebook per head) and `mlp`; no dead-code restarts (the official
TokFSM config). Adam 1e-3 constant with clipping at 1.0 (the official
TokFSM optimizer), batch 32 (ours: two CPU cores), 2000 steps. `baseline`:
the same decoder without codebooks. `:smoke`: 20 steps.
"""

import dataclasses

from train.config import DataConfig, OptimConfig, TrainConfig, parse_arg
from zoo.layers.hooks import NoHooks
from zoo.vq.codebook_features import TOKFSM_MODEL


def get_config(arg: str = ""):
  args = parse_arg(arg, smoke=False, seed=0, baseline=False)
  model = TOKFSM_MODEL
  if args.baseline:
    model = dataclasses.replace(model, block=dataclasses.replace(
        model.block, hooks=NoHooks()))
  return TrainConfig(
      system="codebook_features",
      model=model,
      data=DataConfig(name="tokfsm", eval_split="test", batch_size=32,
                      eval_batch_size=256),
      optim=OptimConfig(name="adam", learning_rate=1e-3, grad_clip_norm=1.0),
      steps=20 if args.smoke else 2000,
      seed=args.seed,
      log_every=5 if args.smoke else 200,
      ckpt_every=10 if args.smoke else 1000,
  )
