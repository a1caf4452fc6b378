"""A classic VQ-VAE on scikit-learn's digits (the SimVQ baseline).

    python -m train --config train/configs/vqvae.py --workdir runs/vqvae

The codebook is learned with the codebook loss (weight 1) and commitment
loss (0.25), straight-through gradients, N(0, 1/d) init. The options of
vector-quantize-pytorch are config fields: the codebook kind
(`--set model.quantizer.codebook=ema`), then its own fields
(`--set model.quantizer.codebook.kmeans_init=true`,
`--set model.quantizer.codebook.dead_code_threshold=0.5`), and
`--set model.quantizer.rotation_trick=true`. Setting: see _vq_digits.py.
"""

from train.configs._vq_digits import digits_config


def get_config(arg: str = ""):
  return digits_config("vqvae", "learned", arg)
