"""What the parallel decoders need from the model, measured on it.

    reference, _ = decode(mdm, prompts, ONE_PER_STEP)
    egp_nfe(mdm, prompts, reference)          # the oracle's steps: the floor
    band = relaxed_band(mdm, prompts, reference, rule)
    first = first_step_confidence(mdm, prompts)
    agree = filter_agreement(mdm, prompts, reference, learned, threshold)

Each reads the per-step trace of a decoding run (`record=True`) against the
model's own one-token-per-step output (`reference`, [M, G]):
  egp_nfe: steps of the EGP oracle (unmask every position whose prediction
    already equals the reference): the fewest any confidence rule could
    take without changing the output.
  relaxed_band: LocalLeap's premise, "near an anchor, a less confident
    position is already determined": of the masked positions the threshold
    rule leaves (confidence in [relaxed_threshold, threshold)) within the
    radius of an anchor, the share, and how many predict the reference.
  first_step_confidence: the confidence of each answer name position at the
    first step of its block (nothing of the block decoded yet): the
    marginal a threshold rule reads, 1/n for an ideal model on shuffle.
  filter_agreement: Learn2PD's premise, "what the filter accepts is final":
    of the positions the filter alone accepts along its own run (the most
    confident one, always taken, aside), how many predict the reference.
"""

import dataclasses

import jax
import numpy as np

from ops.decoding.unmask import UnmaskRule
from train.data import list_tasks
from zoo.decoding.sampler import Sampler, decode

ONE_PER_STEP = Sampler(UnmaskRule("confidence", k=1))


def _steps(mdm, prompts, sampler: Sampler, reference=None,
           learned_filter=None):
  """Per-step arrays of a recorded run, rows of every step stacked.

  Returns:
    dict of confidence, masked, prediction, target [S * M, N] (target: the
    tokens of the active block in `reference`, by default the run's own
    output) and live [S * M] (the row was active at that step).
  """
  tokens, _, traces = decode(mdm, prompts, sampler, record=True,
                             learned_filter=learned_filter)
  reference = tokens if reference is None else reference
  parts, start = [], 0
  for trace in traces:
    rows = trace.active.shape[1]
    blocks = reference[start:start + rows].reshape(rows, -1, mdm.block_len)
    target = blocks[:, np.asarray(trace.block)].transpose(1, 0, 2)
    parts.append({"confidence": np.asarray(trace.confidence),
                  "masked": np.asarray(trace.masked),
                  "prediction": np.asarray(trace.prediction),
                  "target": target, "live": np.asarray(trace.active)})
    start += rows
  return {k: np.concatenate([p[k] for p in parts], axis=1).reshape(
      -1, *parts[0][k].shape[2:]) for k in parts[0]}


def egp_nfe(mdm, prompts, reference) -> float:
  """Mean steps of the EGP oracle against `reference` [M, G]."""
  _, nfe = decode(mdm, prompts, Sampler(UnmaskRule("reference")),
                  reference=reference)
  return float(np.mean(nfe))


@dataclasses.dataclass(frozen=True)
class Band:
  """share: of the masked positions the threshold rule saw, those in the
  relaxed band near an anchor; agreement: how many of them predict the
  one-token-per-step output; count: how many there were."""

  share: float
  agreement: float
  count: int


def relaxed_band(mdm, prompts, reference, rule: UnmaskRule) -> Band:
  """LocalLeap's relaxed positions along the threshold rule's run."""
  steps = _steps(mdm, prompts, Sampler(UnmaskRule(
      "threshold", threshold=rule.threshold)), reference)
  conf, masked = steps["confidence"], steps["masked"]
  masked = masked & steps["live"][:, None]
  anchor = masked & (conf >= rule.threshold)
  n = conf.shape[1]
  window = np.abs(np.arange(n)[:, None] - np.arange(n)[None]) <= rule.radius
  near = np.any(anchor[:, None, :] & window[None], axis=-1)
  band = (masked & near & (conf >= rule.relaxed_threshold)
          & (conf < rule.threshold))
  agree = steps["prediction"] == steps["target"]
  return Band(float(band.sum() / max(masked.sum(), 1)),
              float(agree[band].mean()) if band.any() else float("nan"),
              int(band.sum()))


def first_step_confidence(mdm, prompts) -> np.ndarray:
  """[M] mean confidence over each example's answer name positions at the
  first step of their blocks, decoding one token per step (names: where
  its output holds one)."""
  steps = _steps(mdm, prompts, ONE_PER_STEP)
  fresh = steps["live"] & steps["masked"].all(-1)  # a block's first step
  is_name = steps["target"] >= list_tasks.NAME_BASE
  rows = np.tile(np.arange(len(prompts)), len(fresh) // len(prompts))
  total = np.bincount(rows, (steps["confidence"] * is_name * fresh[:, None]
                             ).sum(-1), len(prompts))
  count = np.bincount(rows, (is_name * fresh[:, None]).sum(-1), len(prompts))
  return total / np.maximum(count, 1)


def filter_agreement(mdm, prompts, reference, learned_filter,
                     threshold: float) -> float:
  """Share of the filter's own acceptances that predict `reference`."""
  steps = _steps(mdm, prompts, Sampler(UnmaskRule(
      "filter", threshold=threshold)), reference, learned_filter)
  masked = steps["masked"] & steps["live"][:, None]
  accept = np.asarray(jax.nn.sigmoid(learned_filter(
      steps["confidence"], steps["masked"]))) > threshold
  accept &= masked
  agree = steps["prediction"] == steps["target"]
  return float(agree[accept].mean()) if accept.any() else float("nan")
