"""The prototype network on `digits` (1,437 train, 360 test images).

    python -m train --config train/configs/prototype_net.py --workdir runs/p

Adam 2e-3, batch 250 and 1,500 epochs as the paper: STEPS = 8,622 steps
(1,500 x 1,437 / 250, rounded up; under a minute on two CPU cores).
`ablate`: R1 = R2 = 0, the claim's ablation. `:smoke` runs 20 steps of
batch 48.

Flags: `ablate`, `steps=N`, `seed=N`, `smoke`.
"""

from train.config import DataConfig, OptimConfig, TrainConfig, parse_arg
from zoo.errors import ConfigError
from zoo.interp.prototype_net import PrototypeNetConfig

STEPS = 8622


def get_config(arg: str = ""):
  args = parse_arg(arg, smoke=False, seed=0, steps=0, ablate=False)
  steps = 20 if args.smoke else args.steps or STEPS
  if steps < 1:
    raise ConfigError(f"prototype_net.py: steps must be >= 1, got {steps}")
  model = (PrototypeNetConfig(r1_weight=0.0, r2_weight=0.0) if args.ablate
           else PrototypeNetConfig())
  return TrainConfig(
      system="prototype_net",
      model=model,
      data=DataConfig(name="digits", batch_size=48 if args.smoke else 250,
                      eval_batch_size=120),
      optim=OptimConfig(name="adam", learning_rate=2e-3),
      steps=steps,
      seed=args.seed,
      log_every=5 if args.smoke else 500,
      ckpt_every=steps,
  )
