"""Top-AFA SAE (and its TopK baseline) on `superposition`.

    python -m train --config train/configs/top_afa.py --workdir runs/afa
    python -m train --config train/configs/top_afa.py:topk --workdir runs/k5

Width 512 over d = 64 (`zoo.interp.top_afa.TOY`); `topk`: the TopK k = 5
baseline (`TOPK`), the same SAE but a fixed k and no AFA term. Both: Adam
1e-3 (ours; the reference's 3e-4 is for 1e9 LLM tokens), constant, batch
512 (the reference's 4,096, cut to fit the claim's CPU budget), STEPS =
3,000 (47 epochs of the 32,768 training vectors; fixed before any run).
`:smoke`: 20 steps of batch 64 on a width-64 SAE.

`lm`: the same SAE kind on a real model's activations,
`text_target_activations` (the zoo's text LM after block 1, d = 192;
building it trains that LM once), width 8 x 192; with `topk`, TopK at the
same k. Not a claim setting: for users' own analyses.

Flags: `topk`, `lm`, `steps=N`, `seed=N`, `smoke`.
"""

import dataclasses

from train.config import DataConfig, OptimConfig, TrainConfig, parse_arg
from zoo.errors import ConfigError
from zoo.interp.top_afa import TOPK, TOY

# The width of `text_target_activations`' vectors (its builder imports
# tensorflow_datasets, which configs do not).
LM_WIDTH = 192
STEPS = 3000
BATCH = 512


def get_config(arg: str = ""):
  args = parse_arg(arg, smoke=False, seed=0, steps=0, topk=False, lm=False)
  steps = 20 if args.smoke else args.steps or STEPS
  if steps < 1:
    raise ConfigError(f"top_afa.py: steps must be >= 1, got {steps}")
  model = TOPK if args.topk else TOY
  data = DataConfig(name="superposition", batch_size=64 if args.smoke
                    else BATCH, eval_batch_size=1024)
  if args.lm:
    model = dataclasses.replace(model, d_in=LM_WIDTH, width=8 * LM_WIDTH,
                                aux_k=LM_WIDTH // 2)
    data = dataclasses.replace(data, name="text_target_activations",
                               eval_split="validation")
  if args.smoke:
    model = dataclasses.replace(model, width=64, aux_k=8)
  return TrainConfig(
      system="top_afa",
      model=model,
      data=data,
      optim=OptimConfig(name="adam", learning_rate=1e-3),
      steps=steps,
      seed=args.seed,
      log_every=5 if args.smoke else 500,
      ckpt_every=steps,
  )
