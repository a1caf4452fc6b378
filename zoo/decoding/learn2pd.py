"""Learn2PD (ICLR 2026): learning which dLLM positions to decode in parallel.

Inference: `ops.decoding.diffusion.generate` with the rule kind "filter"
and `ops.decoding.learn2pd.Filter`, plus end-of-text prediction
(`eot_truncation=True`). Training: only the filter (the diffusion LM stays
frozen), with binary cross-entropy on the labels of an EGP run
(`ops.decoding.learn2pd.egp_data`).

`fit_filter` does the whole recipe for a trained model: it decodes prompts
one token per step (the model's reference output), labels every step of
the EGP run against that output, fits the filter (`train_filter`) and
calibrates its probability threshold on other prompts: the lowest of
`THRESHOLDS` (the most parallel) at which the filter alone (no end-of-text
prediction) stays within `tolerance` of one-token-per-step accuracy, or the
highest if none does. The filter is the method and end-of-text prediction
an add-on at the same threshold, as in the authors' evaluation script (L2P
and L2P+EoT both at accept_thres 0.96); calibrating with the add-on on let
its own accuracy gain (the decoded EOS tail fixes the answer's length)
hide what the filter loses.
"""

import dataclasses
from collections.abc import Callable

import jax
import numpy as np
import optax
from jax import numpy as jnp

from ops.decoding.learn2pd import Filter, FilterData, bce_loss, egp_data
from ops.decoding.unmask import UnmaskRule
from zoo import registry
from zoo.decoding.sampler import Sampler, decode
from zoo.lm.diffusion import TrainedMDM

SYSTEM = registry.System(
    name="learn2pd",
    family="decoding",
    paper="Learning to Parallel: Accelerating Diffusion Large Language "
          "Models via Adaptive Parallel Decoding",
    summary="A 2-layer MLP on the block's confidences decides which masked "
            "positions are final; end-of-text prediction skips the padding.",
    claim="eval.claims.learn2pd:check",
    datasets=("train.data.builders.parallelbench_lists:ParallelbenchLists",),
)

ONE_PER_STEP = Sampler(UnmaskRule("confidence", k=1))
EGP = Sampler(UnmaskRule("reference"))
THRESHOLDS = (0.9, 0.95, 0.98, 0.99, 0.995, 0.999)


def filter_alone(threshold: float) -> Sampler:
  """The filter rule at `threshold`, without end-of-text prediction."""
  return Sampler(UnmaskRule("filter", threshold=threshold))


def sampler(threshold: float) -> Sampler:
  """The filter rule at `threshold` with end-of-text prediction."""
  return dataclasses.replace(filter_alone(threshold), eot_truncation=True)


@dataclasses.dataclass(frozen=True)
class FittedFilter:
  """filter; threshold: calibrated; egp_nfe: EGP's mean NFE per prompt."""

  filter: Filter
  threshold: float
  egp_nfe: float


def train_filter(data: FilterData, key, *, hidden: int | None = None,
                 steps: int = 500, learning_rate: float = 1e-2) -> Filter:
  """Fits a Filter to EGP labels with full-batch Adam.

  Args:
    data: FilterData [M, N].
    key: PRNG key of the initialisation.
    hidden: hidden width (default N).
    steps: Adam steps over the whole data.
    learning_rate: Adam's step size.

  Returns:
    The trained Filter.
  """
  params = Filter.init(key, data.inputs.shape[1], hidden)
  tx = optax.adam(learning_rate)

  @jax.jit
  def fit(params):
    def step(carry, _):
      params, opt_state = carry
      grads = jax.grad(bce_loss)(params, data)
      updates, opt_state = tx.update(grads, opt_state, params)
      return (optax.apply_updates(params, updates), opt_state), None

    (params, _), _ = jax.lax.scan(step, (params, tx.init(params)), None,
                                  length=steps)
    return params

  return Filter(*fit(params))


def egp_training_data(mdm: TrainedMDM, prompts) -> tuple[FilterData, float]:
  """Filter data from prompts [M, P]; also EGP's mean NFE per example."""
  reference, _ = decode(mdm, prompts, ONE_PER_STEP)
  _, nfe, traces = decode(mdm, prompts, EGP, reference=reference,
                          record=True)
  parts, start = [], 0
  for trace in traces:
    rows = trace.active.shape[1]
    parts.append(egp_data(trace, jnp.asarray(reference[start:start + rows])))
    start += rows
  data = FilterData(*(jnp.concatenate(a) for a in zip(*parts)))
  return data, float(np.mean(nfe))


def calibrate(mdm: TrainedMDM, learned: Filter, prompts,
              is_correct: Callable[[np.ndarray], np.ndarray],
              tolerance: float, with_eotp: bool = False) -> float:
  """The lowest threshold at which the filter alone (no end-of-text
  prediction) stays within `tolerance` of one token per step.

  `is_correct(tokens [M, G]) -> [M] bool` scores decoded answers;
  `with_eotp` calibrates with end-of-text prediction on instead (the
  earlier protocol, kept for the claim's sensitivity record).
  """
  accuracy = lambda tokens: float(np.mean(is_correct(tokens)))
  floor = accuracy(decode(mdm, prompts, ONE_PER_STEP)[0])
  setting = sampler if with_eotp else filter_alone
  chosen = THRESHOLDS[-1]
  for threshold in reversed(THRESHOLDS):
    tokens, _ = decode(mdm, prompts, setting(threshold),
                       learned_filter=learned)
    if accuracy(tokens) < floor - tolerance:
      break
    chosen = threshold
  return chosen


def fit_filter(mdm: TrainedMDM, prompts, calibration_prompts,
               is_correct: Callable[[np.ndarray], np.ndarray], *,
               tolerance: float = 0.01, seed: int = 0,
               calibrate_with_eotp: bool = False) -> FittedFilter:
  """Fits the filter on `prompts` and calibrates it on others.

  Args:
    mdm: the trained diffusion LM (frozen).
    prompts: [M, P] prompts for the EGP labels.
    calibration_prompts: [M', P] other prompts, for the threshold.
    is_correct: scores the decoded answers of `calibration_prompts`.
    tolerance: accuracy the calibration may give up, as a fraction.
    seed: the filter's initialisation.
    calibrate_with_eotp: see `calibrate`'s with_eotp.
  """
  data, egp_nfe = egp_training_data(mdm, prompts)
  learned = train_filter(data, jax.random.key(seed))
  threshold = calibrate(mdm, learned, calibration_prompts, is_correct,
                        tolerance, with_eotp=calibrate_with_eotp)
  return FittedFilter(learned, threshold, egp_nfe)
