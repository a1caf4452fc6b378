"""Learn2PD's claim: a learned filter cuts forward passes, not accuracy.

Setting: the list-task MDM of `train.store.mdm` (see
eval/claims/parallelbench.py) on the first `NUM_TEST` test examples of
`parallelbench_lists` (blocks of 8, 24-token answers, greedy). The filter
(8 -> 8 -> 8 MLP) is fitted with BCE on EGP labels of 512 train-split
prompts and its threshold calibrated on 500 other train-split examples
(`zoo.decoding.learn2pd.fit_filter`: the most parallel of 0.9 ... 0.999 at
which the filter alone stays within 1 point of one token per step there);
a masked position is unmasked when the filter's probability exceeds it, the
most confident one always; end-of-text prediction, at the same threshold,
truncates the canvas after an EOS.

Fair setting (issue #20): the threshold is calibrated on the filter alone,
on the MDMs of seeds 0, 1 and 2 (`eval.parallelbench.seeds`; each claim
holds if the mean over seeds does). The authors' evaluation script runs L2P
and L2P+EoT at one accept_thres (0.96): the filter is the method,
end-of-text prediction an add-on. The earlier protocol calibrated with
end-of-text prediction on, whose own gain (the decoded EOS tail fixes the
answer's length) hid the filter's loss: on seed 0 it chose 0.98, where
L2P+EoT was 1.7 points above one token per step on the test set and the
filter alone 2.5 below.

Differences from the authors' code that stay (ours: in
zoo/decoding/learn2pd.py and ops/decoding/learn2pd.py): decoded positions
feed the filter 1.0, not the model's confidence; only masked positions are
labelled; EGP writes the reference at the forced position instead of the
whole block when stuck; end-of-text prediction also cuts after the forced
position's EOS and keeps decoded tokens.

Precondition, in the claim texts: what the filter accepts is final: of the
positions the filter alone accepts along its own test run (the forced most
confident one aside), how many predict the one-token-per-step output.

Records: NFE of one token per step over Learn2PD's (at least 2.5x);
accuracy lost against one token per step (at most 1 point); what
end-of-text prediction adds on top of the filter (the spec's toy target,
at least 1.5x fewer NFE); and the accuracy the filter alone loses at the
same threshold (at most 1 point); then, as "sensitivity:", the same four
on seed 0 with the threshold calibrated with end-of-text prediction on.
"""

import dataclasses

import numpy as np

from eval.claims import measured, over_seeds
from eval.parallelbench import precondition, seeds, sweep
from train.store import mdm as mdm_store
from zoo.decoding import learn2pd

NUM_TEST = 1000


def _measure(mdm, examples, prompts, calibrate_with_eotp: bool) -> dict:
  fitted = sweep.fit_filter(mdm, calibrate_with_eotp=calibrate_with_eotp)
  sampler = learn2pd.sampler(fitted.threshold)
  runs = {name: sweep.evaluate(mdm, examples, prompts, setting,
                               learned_filter=fitted.filter)
          for name, setting in (
              ("one_per_step", learn2pd.ONE_PER_STEP),
              ("filter", dataclasses.replace(sampler, eot_truncation=False)),
              ("learn2pd", sampler))}
  agreement = precondition.filter_agreement(
      mdm, prompts, runs["one_per_step"].tokens, fitted.filter,
      fitted.threshold)
  base, fast, alone = runs["one_per_step"], runs["learn2pd"], runs["filter"]
  text = (f"threshold {fitted.threshold:g}; NFE {base.mean_nfe:.1f} -> "
          f"{fast.mean_nfe:.2f}, accuracy {base.accuracy:.3f} -> "
          f"{fast.accuracy:.3f}; filter alone NFE {alone.mean_nfe:.2f}, "
          f"accuracy {alone.accuracy:.3f}; EGP oracle NFE "
          f"{fitted.egp_nfe:.2f}; precondition: "
          f"{100 * agreement:.1f}% of the filter's acceptances predict the "
          "one-per-step output")
  return {"text": text,
          "nfe_reduction": base.mean_nfe / fast.mean_nfe,
          "accuracy_loss_points": base.points_lost_to(fast),
          "eotp_nfe_reduction": alone.mean_nfe / fast.mean_nfe,
          "filter_accuracy_loss_points": base.points_lost_to(alone),
          "base_nfe": base.mean_nfe, "base_accuracy": base.accuracy,
          "filter_nfe": alone.mean_nfe}


def _records(prefix: str, suffix: str, value, text: str) -> list:
  """The four claims; value(metric) and text(metric) per record."""
  return [
      measured("learn2pd", f"{prefix}NFE >= 2.5x fewer than one token per "
               f"step ({text('nfe_reduction')}; baseline: its NFE)",
               "nfe_reduction" + suffix, value("nfe_reduction"),
               value("base_nfe"), 2.5),
      measured("learn2pd", f"{prefix}accuracy loss <= 1 point against one "
               f"token per step ({text('accuracy_loss_points')}; baseline: "
               "its accuracy)", "accuracy_loss_points" + suffix,
               value("accuracy_loss_points"), value("base_accuracy"), 1.0,
               higher_is_better=False),
      measured("learn2pd", f"{prefix}end-of-text prediction: >= 1.5x fewer "
               f"NFE on top of the filter ({text('eotp_nfe_reduction')}; "
               "baseline: the filter's NFE)", "eotp_nfe_reduction" + suffix,
               value("eotp_nfe_reduction"), value("filter_nfe"), 1.5),
      measured("learn2pd", f"{prefix}filter alone (no end-of-text "
               f"prediction): accuracy loss <= 1 point against one token "
               f"per step ({text('filter_accuracy_loss_points')}; baseline: "
               "its accuracy)", "filter_accuracy_loss_points" + suffix,
               value("filter_accuracy_loss_points"), value("base_accuracy"),
               1.0, higher_is_better=False),
  ]


def _fair(examples, prompts) -> list:
  per_seed, notes = [], []
  for seed, mdm in seeds.models():
    m = _measure(mdm, examples, prompts, calibrate_with_eotp=False)
    per_seed.append(m)
    notes.append(f"{seeds.describe(seed, mdm, m['base_accuracy'])}; "
                 f"{m['text']}")
  value = lambda key: float(np.mean([m[key] for m in per_seed]))
  digits = lambda key: 1 if key.endswith("points") else 3
  text = lambda key: over_seeds([m[key] for m in per_seed],
                                  seeds.SEEDS, digits=digits(key))
  records = _records("", "", value, text)
  # The per-seed detail once, on the first record.
  first = records[0]
  return [dataclasses.replace(first, claim=first.claim.replace(
      "; baseline:", f"; {' | '.join(notes)}; baseline:", 1))] + records[1:]


def _sensitivity(examples, prompts) -> list:
  m = _measure(mdm_store.load(), examples, prompts, calibrate_with_eotp=True)
  prefix = ("sensitivity: seed 0, threshold calibrated with end-of-text "
            "prediction on: ")
  return _records(prefix, "_sensitivity", lambda key: m[key],
                  lambda key: m["text"] if key == "nfe_reduction"
                  else f"seed 0: {m[key]:.2f}")


def check():
  examples, prompts = sweep.load_examples(NUM_TEST)
  return _fair(examples, prompts) + _sensitivity(examples, prompts)
