"""DupMAE pretraining of a 2x64 BERT on unpaired stdlib code and docstrings.

    python -m train --config train/configs/dupmae.py --workdir runs/dupmae
    python -m train --config train/configs/dupmae.py:mlm --workdir runs/mlm
    python -m eval retrieval --dataset stdlib_code_search --system dupmae \
        --workdir runs/dupmae

Pretrains `zoo.retrieval.dupmae` (MLM at 30%, [CLS] decoding of a 50%-masked
copy, bag-of-words OT decoding) on the train split of `stdlib_code_search`,
each pair's query and function as two unpaired texts of at most 96 code-BPE
tokens: batch 32 pairs (64 texts), Adam lr 1e-3 (warm-up 15 steps), 150
steps, the claim check's settings (`eval.claims.dupmae`, whose own loop
shuffles the texts one by one rather than as pairs). `mlm` trains the
baseline: the same encoder and steps, MLM only.

Args (comma-separated): mlm, seed=N, smoke (5 steps, batch 4).
"""

from train.config import DataConfig, OptimConfig, TrainConfig, parse_arg
from zoo.errors import ConfigError
from zoo.retrieval import dupmae

STEPS = 150
BATCH_PAIRS = 32
LEARNING_RATE = 1e-3
WARMUP = 15


def get_config(arg: str = "") -> TrainConfig:
  args = parse_arg(arg, smoke=False, mlm=False, seed=0)
  try:
    model = dupmae.mlm_only_config() if args.mlm else dupmae.DupMAEConfig()
  except ValueError as e:
    raise ConfigError(f"dupmae.py: {e}") from None
  steps = 5 if args.smoke else STEPS
  return TrainConfig(
      system="dupmae",
      model=model,
      data=DataConfig(name="stdlib_code_search", eval_split="validation",
                      batch_size=4 if args.smoke else BATCH_PAIRS,
                      eval_batch_size=4 if args.smoke else 64),
      optim=OptimConfig(name="adam", learning_rate=LEARNING_RATE,
                        warmup_steps=0 if args.smoke else WARMUP),
      steps=steps,
      seed=args.seed,
      log_every=1 if args.smoke else 50,
      ckpt_every=steps,
  )
