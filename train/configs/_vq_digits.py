"""The digits autoencoder setting shared by the VQ configs.

An MLP autoencoder (64-128-64) whose latent is split into 4 tokens of width
16, each quantized with K=512 codes; Adam 1e-3, batch 128, 3000 steps (about
a minute on two CPU cores). `:smoke` runs 20 steps with 64 codes; `:seed=N`
changes the seed.
"""

from train.config import DataConfig, OptimConfig, TrainConfig, parse_arg
from zoo.vq.autoencoder import VQAutoencoderConfig
from zoo.vq.quantizer import QuantizerConfig


def digits_config(system: str, codebook: str, arg: str) -> TrainConfig:
  args = parse_arg(arg, smoke=False, seed=0)
  codes = QuantizerConfig(num_codes=64 if args.smoke else 512,
                          codebook=codebook)
  return TrainConfig(
      system=system,
      model=VQAutoencoderConfig(quantizer=codes),
      data=DataConfig(name="digits", batch_size=32 if args.smoke else 128),
      optim=OptimConfig(name="adam", learning_rate=1e-3),
      steps=20 if args.smoke else 3000,
      seed=args.seed,
      log_every=5 if args.smoke else 100,
      ckpt_every=10 if args.smoke else 1000,
  )
