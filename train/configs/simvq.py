"""SimVQ on scikit-learn's digits: the zoo's default job.

    python -m train --config train/configs/simvq.py --workdir runs/simvq

The codebook is a frozen random matrix seen through one trained linear layer
(with bias, as in the paper's code); straight-through gradients, codebook
loss weight 1, commitment 0.25. Setting: see _vq_digits.py.
"""

from train.configs._vq_digits import digits_config


def get_config(arg: str = ""):
  return digits_config("simvq", "simvq", arg)
