"""DLRM-lite on `zipf_ctr`, one compression method at one budget.

    python -m train --config \
        train/configs/embedding_compression.py:method=qr,budget=16

One epoch of the 200,000 training rows (batch 1024, 195 steps), Adam 1e-3
(the artifact's optimizer and rate), d = 16. `:smoke` runs 20 steps.
"""

from train.config import DataConfig, OptimConfig, TrainConfig, parse_arg
from zoo.errors import ConfigError
from zoo.vq.embedding_compression.dlrm import DLRMConfig, param_bytes
from zoo.vq.embedding_compression.methods import CompressionConfig

BATCH = 1024
EPOCH_STEPS = 200_000 // BATCH


def get_config(arg: str = ""):
  args = parse_arg(arg, smoke=False, seed=0, method="full", budget=1.0)
  try:
    method = CompressionConfig.of_kind(args.method)(budget=args.budget)
    model = DLRMConfig(compression=method)
    param_bytes(model)  # an unreachable budget stops here
  except ValueError as e:
    raise ConfigError(str(e)) from None
  return TrainConfig(
      system="embedding_compression",
      model=model,
      data=DataConfig(name="zipf_ctr", batch_size=BATCH,
                      eval_batch_size=4096),
      optim=OptimConfig(name="adam", learning_rate=1e-3),
      steps=20 if args.smoke else EPOCH_STEPS,
      seed=args.seed,
      log_every=5 if args.smoke else 50,
      ckpt_every=20 if args.smoke else EPOCH_STEPS,
  )

