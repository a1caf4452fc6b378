"""VDR's query side on frozen MiniLM states: stdlib code search.

    python -m train --config train/configs/vdr.py --workdir runs/vdr
    python -m train --config train/configs/vdr.py:head=mean   # the baseline

Trains a 384x384 adapter (identity at init) and a LayerNorm on the query
side with VDR's semi loss; all-MiniLM-L6-v2 stays frozen and the passages
are its states through a fixed LayerNorm into the 29,523-word vocabulary
(`zoo.retrieval.vdr`). Data: the train split of `stdlib_code_search_minilm`
(queries cut at 32 tokens, code at 128), in-batch negatives both ways, batch
32, Adam lr 1e-3, 100 steps: the claim check's settings (its own loop trains
on the first 1,024 pairs with the passages encoded once, which is faster;
this config encodes each batch's passages in the step). `head=mean` trains
the dense baseline (mean-pooled, InfoNCE at temperature 0.05).

Args (comma-separated): head=vocab|mean, seed=N, smoke (5 steps, batch 4).
"""

from train.config import DataConfig, OptimConfig, TrainConfig, parse_arg
from zoo.errors import ConfigError
from zoo.retrieval import vdr


def get_config(arg: str = "") -> TrainConfig:
  args = parse_arg(arg, smoke=False, head="vocab", seed=0)
  try:
    model = vdr.dense_config() if args.head == "mean" else vdr.VDRConfig(
        head=args.head)
  except ValueError as e:
    raise ConfigError(f"vdr.py: {e}") from None
  steps = 5 if args.smoke else 100
  return TrainConfig(
      system="vdr",
      model=model,
      data=DataConfig(name="stdlib_code_search_minilm",
                      eval_split="validation",
                      batch_size=4 if args.smoke else 32,
                      eval_batch_size=4 if args.smoke else 64),
      optim=OptimConfig(name="adam", learning_rate=1e-3),
      steps=steps,
      seed=args.seed,
      log_every=1 if args.smoke else 25,
      ckpt_every=steps,
  )
