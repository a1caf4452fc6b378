"""The MEG decoder's claim: the brain module beats a linear decoder.

Pipeline test on `synthetic_meg` (simulated CTF-272 epochs of digits; the
claim is about the mechanism on synthetic data, not THINGS-MEG). The
simulator builds the decodable code in, so the ratio to the linear baseline
depends on the simulator, not only on the model.

Setting (fixed by the issue before any run): the model and training of
`train/configs/meg_decoder.py` (1,000 steps of batch 64, one seed), trained
with the system's task and optimizer step on in-memory batches drawn as the
pipeline draws them. Test: the 400 test trials (100 retrieval images x 4
subjects); each trial's "clip" prediction ranks the 100 images' true codes
by cosine (`train.evaluators.code_retrieval`). Baseline: ridge regression
from the flattened epoch (272 x 60) to the code, alpha by leave-one-out
over 10^-1..10^6, fitted per subject and on all subjects pooled; the better
top-5 of the two is the baseline (ours: the stronger linear decoder).

Claims: (1) top-5 >= 3x ridge's; (2) top-5 >= 5x chance (5/100).

Measured (2026-12-06, 2 shared cores): claim 1 FAILS, 0.78 / 0.5925 = 1.32x
(ridge per subject 0.47, pooled 0.5925); claim 2 passes (0.78 >= 0.25).
Diagnosis of claim 1: the simulator is close to linear where it counts.
Sensors are a linear mixture of 16 sources; the softplus and tanh readouts
act per trial on amplitudes that then scale fixed time courses, so the
epoch is an affine-plus-mild-curvature function of the 32-d code that ridge
over 16,320 features captures well; and the noise, though at -10 dB per
sensor, is independent across 272 sensors, so pooling over them raises the
SNR about 17-fold for either decoder. With the linear baseline at 0.59, a
3x ratio would need a top-5 of 1.78, above 1: the threshold cannot be met
on this simulator by any decoder. The issue text said the ratio depends on
the simulator; we report it as measured and did not change the simulator
after the run.
"""

import functools
import sys

import jax
import numpy as np
from sklearn.linear_model import RidgeCV

from eval.claims import in_memory, measured
from train import config as config_lib
from train.data.builders import synthetic_meg
from train.evaluators import code_retrieval
from train.tasks.meg_clip_mse import TASK

RIDGE_ALPHAS = np.logspace(-1, 6, 8)


def _examples(trials: synthetic_meg.Trials, rows) -> dict[str, np.ndarray]:
  return {"meg": trials.meg[rows], "subject": trials.subject[rows],
          "code": trials.code[rows], "image": trials.image[rows]}


def model_metrics(model, variables, test: synthetic_meg.Trials):
  inputs = TASK.prepare(_examples(test, np.arange(len(test.label))))
  predicted, target = jax.jit(functools.partial(
      model.apply, method="retrieval_pair"))(variables, inputs)
  return code_retrieval.metrics(np.asarray(predicted), *(
      code_retrieval.candidate_set(test.image, np.asarray(target))))


def ridge_metrics(train: synthetic_meg.Trials, test: synthetic_meg.Trials,
                  per_subject: bool) -> dict[str, float]:
  flat = lambda t: t.meg.reshape(len(t.meg), -1).astype(np.float64)
  x_train, x_test = flat(train), flat(test)
  predicted = np.zeros(test.code.shape)
  groups = np.unique(train.subject) if per_subject else [None]
  for g in groups:
    fit_rows = slice(None) if g is None else train.subject == g
    rows = slice(None) if g is None else test.subject == g
    ridge = RidgeCV(alphas=RIDGE_ALPHAS).fit(x_train[fit_rows],
                                            train.code[fit_rows])
    predicted[rows] = ridge.predict(x_test[rows])
  return code_retrieval.metrics(
      predicted, *code_retrieval.candidate_set(test.image, test.code))


def check():
  cfg = config_lib.load_config("meg_decoder.py")
  trials = synthetic_meg.generate()
  train, test = trials["train"], trials["test"]
  ridge = {name: ridge_metrics(train, test, per_subject)
           for name, per_subject in (("per_subject", True),
                                     ("pooled", False))}
  print(f"ridge: {ridge}", file=sys.stderr)
  baseline = max(r["top5"] for r in ridge.values())
  model, variables = in_memory.train(
      cfg, TASK, _examples(train, np.arange(len(train.label))))
  ours = model_metrics(model, variables, test)
  print(f"meg_decoder: {ours}", file=sys.stderr)
  chance = ours["chance_top5"]
  ratio = ours["top5"] / baseline if baseline > 0 else float("inf")
  return [
      measured("meg_decoder",
               "top-5 retrieval among 100 test images >= 3x the ridge "
               "baseline's (synthetic_meg; ratio depends on the simulator)",
               "top5 / ridge top5", ratio, baseline, 3.0),
      measured("meg_decoder",
               "top-5 retrieval among 100 test images >= 5x chance "
               "(synthetic_meg)",
               "top5", ours["top5"], chance, 5 * chance),
  ]
