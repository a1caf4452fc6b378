"""CPPD's autoregressive baseline on digit strips: same encoder, same steps.

    python -m train --config train/configs/cppd_ar.py --workdir runs/cppd_ar

A transformer decoder (causal self-attention, attention to the visual
tokens) trained with teacher forcing and decoded greedily, one call per
token. Args: `smoke`, `seed=N`. Setting: see cppd.py.
"""

from train.config import TrainConfig, parse_arg
from train.configs.cppd import recognizer_config


def get_config(arg: str = "") -> TrainConfig:
  args = parse_arg(arg, smoke=False, seed=0)
  return recognizer_config("autoregressive", "train.tasks.strip_ar:TASK",
                           smoke=args.smoke, seed=args.seed)
