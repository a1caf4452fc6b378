"""Learn2PD's filter for a trained list-task MDM, fitted on train prompts.

The model first decodes the prompts one token per step (its reference
output); the EGP run against that output labels every step's block
confidences (`ops.decoding.learn2pd.egp_data`); the filter is fitted to
those labels (`zoo.decoding.learn2pd.train_filter`). Only train-split
prompts are used.
"""

import jax
import numpy as np
from jax import numpy as jnp

from eval.parallelbench import sweep
from ops.decoding.learn2pd import Filter, FilterData, egp_data
from ops.decoding.unmask import UnmaskRule
from zoo.decoding.learn2pd import train_filter

ONE_PER_STEP = sweep.Sampler(UnmaskRule("confidence", k=1))
EGP = sweep.Sampler(UnmaskRule("reference"))


def egp_training_data(mdm, prompts) -> tuple[FilterData, float]:
  """Filter data from prompts [M, P]; also EGP's mean NFE per example."""
  reference, _ = sweep.decode(mdm, prompts, ONE_PER_STEP)
  _, nfe, traces = sweep.decode(mdm, prompts, EGP, reference=reference,
                                record=True)
  parts, start = [], 0
  for trace in traces:
    rows = trace.active.shape[1]
    parts.append(egp_data(trace, jnp.asarray(reference[start:start + rows])))
    start += rows
  data = FilterData(*(jnp.concatenate(a) for a in zip(*parts)))
  return data, float(np.mean(nfe))


def fit(mdm, num_prompts: int = 512, seed: int = 0) -> Filter:
  """The filter of `mdm`, from `num_prompts` train-split prompts."""
  _, prompts = sweep.test_examples(num_prompts, split="train")
  data, _ = egp_training_data(mdm, prompts)
  return train_filter(data, jax.random.key(seed))
