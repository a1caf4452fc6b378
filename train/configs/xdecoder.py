"""X-Decoder on `shape_scenes`: generic segmentation over 10 seen
(colour, kind) classes and background, plus referring phrases.

    python -m train --config train/configs/xdecoder.py --workdir runs/xdec

The five held-out pairs (`train.tasks.open_vocab_segmentation.UNSEEN`) are
not in `model.class_names`; scenes holding them weigh 0 in the loss, and
the evaluator scores all 16 names (zero-shot on the held-out five) and the
referring masks on the 500 test scenes. 3 decoder layers, 8 + 1 latent
queries, width 64 (`zoo.arch.xdecoder`); AdamW 1e-3 (weight decay 0.05,
Mask2Former's), warm-up over a tenth of the steps (at most 100), then a
cosine decay, gradients clipped at norm 1; batch 32, 1,500 steps (ours:
sized so the claim fits 15 minutes of 2 CPU cores). `:smoke`
runs 10 steps of batch 8 with one decoder layer (to halve what CI
compiles).

Flags: `steps=N`, `seed=N`, `smoke`.
"""

from train.config import DataConfig, OptimConfig, TrainConfig, parse_arg
from train.tasks.open_vocab_segmentation import TRAIN_CLASS_NAMES
from zoo.arch.xdecoder import XDecoderConfig
from zoo.errors import ConfigError

STEPS = 1500


def get_config(arg: str = ""):
  args = parse_arg(arg, smoke=False, seed=0, steps=STEPS)
  steps = 10 if args.smoke else args.steps
  if steps < 1:
    raise ConfigError(f"xdecoder.py: steps must be >= 1, got {steps}")
  return TrainConfig(
      system="xdecoder",
      model=XDecoderConfig(class_names=TRAIN_CLASS_NAMES,
                           decoder_layers=1 if args.smoke else 3),
      task="train.tasks.open_vocab_segmentation:TASK",
      data=DataConfig(name="shape_scenes", batch_size=8 if args.smoke else 32,
                      eval_batch_size=100),
      optim=OptimConfig(name="adamw", learning_rate=1e-3, weight_decay=0.05,
                        schedule="cosine",
                        warmup_steps=min(100, steps // 10),
                        grad_clip_norm=1.0),
      steps=steps,
      seed=args.seed,
      log_every=5 if args.smoke else 100,
      ckpt_every=steps,
  )
