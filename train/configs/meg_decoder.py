"""The MEG brain module on `synthetic_meg`.

    python -m train --config train/configs/meg_decoder.py

1,000 steps of batch 64 (about 45 epochs of the 1,437 training trials),
Adam 1e-3 with a cosine decay (ours; the paper: Adam 3e-4 with early
stopping, not affordable on CPU). `:smoke` runs 20 steps.
"""

from train.config import DataConfig, OptimConfig, TrainConfig, parse_arg
from zoo.arch.meg_decoder import MegDecoderConfig

STEPS = 1000
BATCH = 64


def get_config(arg: str = ""):
  args = parse_arg(arg, smoke=False, seed=0)
  steps = 20 if args.smoke else STEPS
  return TrainConfig(
      system="meg_decoder",
      model=MegDecoderConfig(),
      data=DataConfig(name="synthetic_meg", batch_size=BATCH,
                      eval_batch_size=100),
      optim=OptimConfig(name="adam", learning_rate=1e-3, schedule="cosine"),
      steps=steps,
      seed=args.seed,
      log_every=5 if args.smoke else 100,
      ckpt_every=steps,
  )
