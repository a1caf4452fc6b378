"""Learn2PD's filter for a trained list-task MDM, from train prompts only.

The model first decodes prompts one token per step (its reference output);
the EGP run against that output labels every step's block confidences
(`ops.decoding.learn2pd.egp_data`); the filter is fitted to those labels
(`zoo.decoding.learn2pd.train_filter`). Its probability threshold is then
calibrated on other train prompts: the lowest of `THRESHOLDS` (the most
parallel) at which Learn2PD with end-of-text prediction stays within
`tolerance` of one-token-per-step accuracy, or the highest if none does.
"""

import dataclasses

import jax
import numpy as np
from jax import numpy as jnp

from eval.parallelbench import sweep
from ops.decoding.learn2pd import Filter, FilterData, egp_data
from ops.decoding.unmask import UnmaskRule
from zoo.decoding.learn2pd import train_filter

ONE_PER_STEP = sweep.Sampler(UnmaskRule("confidence", k=1))
EGP = sweep.Sampler(UnmaskRule("reference"))
THRESHOLDS = (0.9, 0.95, 0.98, 0.99, 0.995, 0.999)


def learn2pd(threshold: float) -> sweep.Sampler:
  """The filter rule at `threshold` with end-of-text prediction."""
  return sweep.Sampler(UnmaskRule("filter", threshold=threshold),
                       eot_truncation=True)


@dataclasses.dataclass(frozen=True)
class FittedFilter:
  """filter; threshold: calibrated; egp_nfe: EGP's mean NFE per prompt."""

  filter: Filter
  threshold: float
  egp_nfe: float


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


def calibrate(mdm, learned: Filter, examples, prompts,
              tolerance: float) -> float:
  """The lowest threshold within `tolerance` of one token per step."""
  floor = sweep.evaluate(mdm, examples, prompts, ONE_PER_STEP).accuracy
  chosen = THRESHOLDS[-1]
  for threshold in reversed(THRESHOLDS):
    result = sweep.evaluate(mdm, examples, prompts, learn2pd(threshold),
                            learned_filter=learned)
    if result.accuracy < floor - tolerance:
      break
    chosen = threshold
  return chosen


def fit(mdm, num_prompts: int = 512, num_calibration: int = 500,
        tolerance: float = 0.01, seed: int = 0) -> FittedFilter:
  """Fits on the first `num_prompts` train prompts, calibrates on the next.

  Args:
    mdm: the trained model (`eval.parallelbench.model.TrainedMDM`).
    num_prompts: train-split prompts for the EGP labels.
    num_calibration: the following train-split examples, for the threshold.
    tolerance: accuracy the calibration may give up, as a fraction.
    seed: the filter's initialisation.
  """
  examples, prompts = sweep.load_examples(num_prompts + num_calibration,
                                          split="train")
  data, egp_nfe = egp_training_data(mdm, prompts[:num_prompts])
  learned = train_filter(data, jax.random.key(seed))
  threshold = calibrate(mdm, learned, examples[num_prompts:],
                        prompts[num_prompts:], tolerance)
  return FittedFilter(learned, threshold, egp_nfe)
