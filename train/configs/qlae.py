"""QLAE on the procedural sprites (shape 3 x scale 4 x x 8 x y 8).

    python -m train --config train/configs/qlae.py --workdir runs/qlae
    python -m train --config train/configs/qlae.py:ae     # the AE baseline

n_z = 8 latents (twice the 4 sources), n_v = 10 values each; BCE + 0.01
quantization + 0.01 commitment; AdamW 1e-3 with weight decay 0.1, batch 64,
3000 steps (240 s measured on 2 CPU cores shared at load 10). Trains on the
`train` split; the evaluator reports BCE and InfoM/InfoC/InfoE on `test`.

Flags: `ae` (no quantization, weight decay 0: the paper's AE baseline),
`weight_decay=W`, `seed=N`, `smoke` (20 steps, batch 16).

The shared optimizer decays every parameter; the paper decays the
encoder and decoder weights only (`zoo.vq.qlae.decayed_params`), and so
does the claim check (eval/claims/qlae.py), which builds that optimizer
itself: `OptimConfig` has no parameter mask.
"""

from train.config import DataConfig, OptimConfig, TrainConfig, parse_arg
from zoo.errors import ConfigError
from zoo.vq.qlae import QLAEConfig

WEIGHT_DECAY = 0.1


def get_config(arg: str = ""):
  args = parse_arg(arg, smoke=False, seed=0, ae=False,
                   weight_decay=WEIGHT_DECAY)
  if not args.weight_decay >= 0:
    raise ConfigError(f"qlae.py: weight_decay must be >= 0, got "
                      f"{args.weight_decay}")
  weight_decay = 0.0 if args.ae else args.weight_decay
  return TrainConfig(
      system="qlae",
      model=QLAEConfig(quantize=not args.ae),
      data=DataConfig(name="sprites", batch_size=16 if args.smoke else 64,
                      eval_batch_size=96),
      optim=OptimConfig(name="adamw", learning_rate=1e-3,
                        weight_decay=weight_decay),
      steps=20 if args.smoke else 3000,
      seed=args.seed,
      log_every=5 if args.smoke else 100,
      ckpt_every=10 if args.smoke else 1000,
  )
