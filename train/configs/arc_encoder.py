"""ARC-Encoder on the zoo's text LM: 128 context tokens into 32 vectors.

    python -m train --config train/configs/arc_encoder.py --workdir runs/arc
    python -m eval context --system arc_encoder --workdir runs/arc

The decoder is the trained "text" target (4 layers, width 192, 2.2M
parameters; `train.store.lm.load_target("text")`), frozen. The encoder is a
copy of its embedding table and first 2 blocks, bidirectional, the second
pooling queries 4:1, then an RMSNorm and an MLP 192 -> 512 -> 192
(`zoo.retrieval.arc_encoder`). Data: the target's own training windows
(`stdlib_text_bpe`), 128 context tokens and the 64 after them; each step
reconstructs the context or continues it, with equal probability. Batch
16, AdamW lr 1e-3 (weight decay 0.01, clip 1) with 20 warm-up steps and
cosine decay, `STEPS` steps: the claim check's settings
(`eval.claims.arc_encoder`).

Args (comma-separated): seed=N, smoke (5 steps, batch 2, the text target's
smoke LM and a 1-block encoder).
"""

from train.config import DataConfig, OptimConfig, TrainConfig, parse_arg
from train.configs import lm as lm_configs
from zoo.errors import ConfigError
from zoo.retrieval import arc_encoder

# Fixed from the CPU budget before any test number; not tuned.
STEPS = 500
BATCH = 16
LEARNING_RATE = 1e-3
WARMUP = 20


def model_config(smoke: bool = False) -> arc_encoder.ArcEncoderConfig:
  """The model the claim and `python -m train` use."""
  if smoke:
    return arc_encoder.ArcEncoderConfig(
        lm=lm_configs.SIZES["smoke"], encoder_layers=1, projector_hidden=32,
        smoke_target=True)
  return arc_encoder.ArcEncoderConfig(lm=lm_configs.SIZES["target"])


def get_config(arg: str = "") -> TrainConfig:
  args = parse_arg(arg, smoke=False, seed=0)
  try:
    model = model_config(args.smoke)
  except ValueError as e:
    raise ConfigError(f"arc_encoder.py: {e}") from None
  steps = 5 if args.smoke else STEPS
  return TrainConfig(
      system="arc_encoder",
      model=model,
      data=DataConfig(name="stdlib_text_bpe", eval_split="validation",
                      batch_size=2 if args.smoke else BATCH,
                      eval_batch_size=2 if args.smoke else 32),
      optim=OptimConfig(name="adamw", learning_rate=LEARNING_RATE,
                        weight_decay=0.01,
                        warmup_steps=1 if args.smoke else WARMUP,
                        schedule="cosine", grad_clip_norm=1.0),
      steps=steps,
      seed=args.seed,
      log_every=1 if args.smoke else 25,
      ckpt_every=steps,
  )
