"""CPPD on digit strips (`digit_strips`): one decoder pass per image.

    python -m train --config train/configs/cppd.py --workdir runs/cppd
    python -m train --config train/configs/cppd.py:side_losses=false ...

Args: `smoke` (a few steps of a smaller model), `seed=N`, `side_losses`
(true: CPPD, loss edge + 1.0 (count + order); false: the plain parallel
decoder, edge loss only). The autoregressive baseline on the same encoder
is `cppd_ar.py`; both share this setting: 64-wide tokens, 2 heads, a
2-block encoder over 24 visual tokens, 2 decoder layers per stack, AdamW
2e-3 (weight decay 0.05, 100 warmup steps, cosine, gradients clipped at
norm 1), batch 32, 6000 steps (192,000 strips, about 9 epochs). At 2000
steps the two parallel decoders were still leaving the plateau on which
they find each slot's length but not its digit (CPPD left it around step
800, the plain one around 500), and sequence accuracy ranked the three by
that timing (CPPD 0.68, plain 0.75, AR 0.78); at 6000 all three level off.
"""

from typing import Literal

from train.config import DataConfig, OptimConfig, TrainConfig, parse_arg
from zoo.vision.recognition import RecognizerConfig


def recognizer_config(decoder: Literal["parallel", "autoregressive"],
                      task: str, *, smoke: bool, seed: int,
                      side_loss_weight: float = 1.0) -> TrainConfig:
  """The digit-strip setting shared by CPPD, plain PD and the AR decoder."""
  model = RecognizerConfig(decoder=decoder, side_loss_weight=side_loss_weight)
  if smoke:
    model = RecognizerConfig(decoder=decoder, embed_dim=32, mlp_dim=64,
                             encoder_layers=1, decoder_layers=1,
                             side_loss_weight=side_loss_weight)
  return TrainConfig(
      system="cppd",
      model=model,
      task=task,
      data=DataConfig(name="digit_strips", batch_size=16 if smoke else 32,
                      eval_batch_size=500),
      optim=OptimConfig(name="adamw", learning_rate=2e-3, weight_decay=0.05,
                        warmup_steps=5 if smoke else 100, schedule="cosine",
                        grad_clip_norm=1.0),
      steps=20 if smoke else 6000,
      seed=seed,
      log_every=5 if smoke else 100,
      ckpt_every=10 if smoke else 1000,
  )


def get_config(arg: str = "") -> TrainConfig:
  args = parse_arg(arg, smoke=False, seed=0, side_losses=True)
  return recognizer_config("parallel", "train.tasks.cppd:TASK",
                           smoke=args.smoke,
                           seed=args.seed,
                           side_loss_weight=1.0 if args.side_losses else 0.0)
