"""The list-task MDM from several training seeds, for claims that rest on it.

    for seed, mdm in models():
      print(describe(seed, mdm, accuracy))  # held-out loss beside it

A claim on a trained model passes only if the mean over `SEEDS` does; its
record states the spread. Each seed is trained once into the user cache
(`train.store.mdm.load(seed=...)`, train/configs/mdm_lists.py: 6000 steps,
8 minutes on two free cores, 37 at about 2.7 steps/s on shared ones).
"""

import dataclasses
from collections.abc import Iterator, Sequence

import jax
import numpy as np

from ops.decoding.diffusion import canvas_mask
from train.store import mdm as mdm_store
from zoo.lm import diffusion

SEEDS = (0, 1, 2)
HELD_OUT = 1000  # test examples of the held-out loss


def models(seeds: Sequence[int] = SEEDS
           ) -> Iterator[tuple[int, diffusion.TrainedMDM]]:
  """(seed, model) for each seed, loaded (or trained once) in turn."""
  for seed in seeds:
    yield seed, mdm_store.load(seed=seed)


def with_block_len(mdm: diffusion.TrainedMDM, block_len: int
                   ) -> diffusion.TrainedMDM:
  """The same network decoded in blocks of `block_len`.

  Blocks are a sampler setting for a bidirectional model (its attention
  does not depend on them); a block-causal one was trained with its blocks.
  """
  if mdm.attention != "bidirectional":
    raise ValueError(f"with_block_len: the model attends {mdm.attention!r}; "
                     f"only a bidirectional one can change its blocks")
  if mdm.gen_len % block_len:
    raise ValueError(f"with_block_len: block_len={block_len} must divide "
                     f"gen_len={mdm.gen_len}")
  return dataclasses.replace(
      mdm, config=dataclasses.replace(mdm.config, block_len=block_len))


def held_out_loss(mdm: diffusion.TrainedMDM, num: int = HELD_OUT) -> float:
  """The masked-token loss on the first `num` test examples (fixed masks)."""
  from train.data import sources  # tensorflow_datasets, on first use

  source = sources.data_source("parallelbench_lists", "test")
  tokens = np.stack([r["tokens"] for r in source.__getitems__(
      range(min(num, len(source))))])[:, :mdm.config.prompt_len + mdm.gen_len]
  prompt_len = mdm.config.prompt_len
  noisy, masked, t = diffusion.corrupt(jax.random.key(0), tokens, prompt_len)
  mask = canvas_mask(prompt_len, mdm.gen_len, mdm.block_len, mdm.attention)
  loss, _ = diffusion.diffusion_loss(mdm.lm(noisy, qq_mask=mask), tokens,
                                     masked, t, prompt_len)
  return float(loss)


def describe(seed: int, mdm: diffusion.TrainedMDM,
             one_per_step_accuracy: float) -> str:
  """"seed s: held-out loss l, one-per-step accuracy a", for records.

  The MDM's analogue of a text target's greedy repetition rate is its
  one-token-per-step accuracy: both say what the decoders start from.
  """
  return (f"seed {seed}: held-out loss {held_out_loss(mdm):.4f}, "
          f"one-per-step accuracy {one_per_step_accuracy:.3f}")

