"""Convergent Learning: the small digits CNN, one run per seed.

    python -m train --config train/configs/convergent.py:seed=1 \
        --workdir runs/convergent_1

Classifies scikit-learn's 8x8 `digits` (`train.tasks.image_classification`,
test accuracy from `train.evaluators.classification_accuracy`). Ours:
Adam 1e-3 with a cosine decay, 1,500 steps of batch 64 (about 67 epochs of
the 1,437 training images), enough for >= 95% test accuracy; the claim
trains seeds 0, 1, 2. `:smoke` runs 20 steps of batch 32.

Flags: `seed=N`, `steps=N`, `smoke`.
"""

from train.config import DataConfig, OptimConfig, TrainConfig, parse_arg
from zoo.errors import ConfigError
from zoo.interp.convergent import ConvergentConfig


def get_config(arg: str = ""):
  args = parse_arg(arg, smoke=False, seed=0, steps=0)
  steps = 20 if args.smoke else args.steps or 1500
  if steps < 1:
    raise ConfigError(f"convergent.py: steps must be >= 1, got {steps}")
  return TrainConfig(
      system="convergent",
      model=ConvergentConfig(),
      data=DataConfig(name="digits", batch_size=32 if args.smoke else 64,
                      eval_batch_size=360),
      optim=OptimConfig(name="adam", learning_rate=1e-3, schedule="cosine"),
      steps=steps,
      seed=args.seed,
      log_every=5 if args.smoke else 250,
      ckpt_every=steps,
  )
