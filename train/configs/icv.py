"""Knowledge feeding through in-context vectors on the zoo's text LM.

    python -m train --config train/configs/icv.py --workdir runs/icv
    python -m train --config train/configs/icv.py:alpha0   # L_gen only
    python -m eval context --system icv --workdir runs/icv

The decoder is the trained "text" target (4 layers, width 192, 2.2M
parameters), frozen. The encoder (ARC-Encoder's: a copy of the target's
embedding table and first 2 blocks, bidirectional, one pooled group over
the 128 context tokens, an RMSNorm and an MLP 192 -> 512 -> 4 x 192)
makes one in-context vector per decoder layer, applied by Liu et al.'s
norm-keeping shift with lambda = 1 while the decoder reads the 64
continuation tokens after <bos> (`zoo.retrieval.icv`). Loss alpha L_cos +
(1 - alpha) L_gen, alpha from 1 to 0 linearly over the run (`alpha0`: 0
throughout). Data, batch 16 and the optimizer as ARC-Encoder's
(`train/configs/arc_encoder.py`); `STEPS` steps: the claim check's
settings (`eval.claims.icv`).

Args (comma-separated): alpha0, seed=N, smoke (5 steps, batch 2, the text
target's smoke LM and a 1-block encoder).
"""

import dataclasses

from train.config import TrainConfig, parse_arg
from train.configs import arc_encoder as arc_configs
from train.configs import lm as lm_configs
from zoo.errors import ConfigError
from zoo.retrieval import icv

# Fixed from the CPU budget (two runs in one claim check) before any test
# number; not tuned.
STEPS = 400


def model_config(smoke: bool = False, alpha0: bool = False,
                 steps: int = STEPS) -> icv.IcvConfig:
  """The model the claim and `python -m train` use."""
  cfg = icv.IcvConfig(lm=lm_configs.SIZES["target"], alpha_steps=steps)
  if smoke:
    cfg = icv.IcvConfig(lm=lm_configs.SIZES["smoke"], encoder_layers=1,
                        projector_hidden=32, alpha_steps=steps,
                        smoke_target=True)
  return dataclasses.replace(cfg, alpha_start=0.0) if alpha0 else cfg


def get_config(arg: str = "") -> TrainConfig:
  args = parse_arg(arg, smoke=False, alpha0=False, seed=0)
  steps = 5 if args.smoke else STEPS
  try:
    model = model_config(args.smoke, args.alpha0, steps)
  except ValueError as e:
    raise ConfigError(f"icv.py: {e}") from None
  base = arc_configs.get_config("smoke" if args.smoke else "")
  return dataclasses.replace(base, system="icv", model=model, steps=steps,
                             seed=args.seed, ckpt_every=steps)
