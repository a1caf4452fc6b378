"""Convergent Learning's claims: networks trained from different seeds learn
units that match one to one, most so in the first layer, and a few units
of one net predict a unit of the other better than its one-to-one match.

Setting (fixed by the issue before any run): three `convergent` CNNs
(conv1 16 maps, conv2 32 maps, fc 64 units) train on the 1,437 `digits`
training images, seeds 0, 1, 2 (`convergent.py:seed=s`: 1,500 steps of
batch 64; each should reach >= 95% test accuracy, recorded as the first
record); their initial weights are the untrained baseline. Activations are
the post-ReLU units over the 360 held-out test images, a conv unit over all
positions (conv1: 23,040 samples, conv2: 5,760, fc: 360). For each layer
and each pair of nets (3 pairs) the units' Pearson matrix (constant units
dropped) is matched one to one by maximum-weight bipartite matching; a
layer's statistic is the mean matched correlation over its pairs.

Claims: (1) conv1's statistic for trained pairs >= the untrained pairs' +
0.15 (the issue's threshold; the spec's 0.2 came before the issue measured
untrained 3x3 filters matching at 0.50-0.58 on digit patches); (2) conv1's
statistic >= conv2's, the middle layer (trained pairs; the paper's depth
trend); (3) in every layer, LASSO with <= 4 inputs explains more of a
unit's variance (in-sample R^2 of standardised units, mean over the units
of all 6 ordered pairs of trained nets) than its bipartite match does
(r^2; 0 for a unit left unmatched): the value is the smallest gap over the
three layers, which must be > 0.

Measured (2026-12-06, 2 shared cores at load 9-11; 139 s wall, 52 s of
CPU; deterministic, a second run gave the same values): test accuracies
0.956, 0.981, 0.969 (passes). Mean matched r, trained / untrained: conv1
0.649 / 0.530, conv2 0.664 / 0.449, fc 0.713 / 0.314. Claim 1 FAILS: conv1
gains +0.119 over the untrained nets, short of +0.15. Claim 2 FAILS: conv1
0.649 < conv2 0.664 (and fc 0.713 is higher still: the trend is reversed).
Claim 3 passes: R^2 of LASSO (<= 4 inputs) / one-to-one is 0.697 / 0.487
(conv1), 0.621 / 0.471 (conv2), 0.654 / 0.491 (fc); smallest gap 0.149.
Linear CKA of trained pairs is 0.89-0.92 (conv1), 0.86-0.88 (conv2),
0.90-0.92 (fc); fc has 21-29 of its 64 units constant (dead) on the test
images, conv1 none.
Diagnosis of 1 and 2 (a separate run of the same nets, not part of the
check): (a) conv1 has 16 filters on 3x3 patches, a 9-dimensional input,
so two nets share the layer's subspace (CKA ~0.9) but not its basis: in
pair 0-1 five units match at r 0.82-0.90 (the reliably learnt features
the paper reports) while the other eleven pair at 0.41-0.74 and one is
forced onto a partner at r -0.22, and the one-to-one mean averages them
in; the paper's conv1 has 96 filters on 11x11x3 patches of natural images,
where Gabor and colour-blob filters are a canonical solution; (b) random
3x3 filters already respond alike to strokes (untrained pair 0-1: four
units match at 0.71-0.88), which lifts the baseline; the blank background
is not the cause: only 13% of conv1's positions see a blank patch, and
without them the gap is still 0.635 - 0.505 = 0.13; (c) the depth trend
needs middle layers far from both the pixels and the labels, as conv2-4 of
the paper's 8-layer AlexNet are; here conv2 is one layer below the
classifier's hidden layer, its 32 units (twice conv1's) see most of the
8x8 digit, and units that close to the 10 classes converge because every
net must separate the same classes (fc, next to the readout, matches best
of all). Settings and thresholds were fixed before the run and not changed.
"""

import itertools
import sys

import jax
import numpy as np

from eval.claims import in_memory, measured
from train import config as config_lib
from train.data import encoding_model
from train.tasks import image_classification
from zoo.interp import alignment, convergent, hooks

SEEDS = (0, 1, 2)
MAX_INPUTS = 4
MARGIN = 0.15
MIN_ACCURACY = 0.95


def _units(model, variables, images):
  """(predicted classes [N], {layer: [samples, units]}) of one net."""
  logits, acts = jax.jit(lambda v, x: hooks.capture(
      model, v, x, points=convergent.LAYERS))(variables, images)
  return (np.asarray(logits).argmax(-1),
          {k: alignment.as_units(v) for k, v in acts.items()})


def _nets(images, labels, test_images):
  """Units of every seed's trained and untrained net on `test_images`, and
  the trained nets' predicted classes."""
  task = image_classification.TASK
  examples = {"image": images, "label": labels}
  trained, untrained, predicted = [], [], []
  for seed in SEEDS:
    cfg = config_lib.load_config(f"convergent.py:seed={seed}")
    model, variables = in_memory.train(cfg, task, examples, log_every=500)
    # The untrained net is the trained one's start (create_state's init).
    start = task.init(model, jax.random.key(seed), task.prepare(examples))
    classes, units = _units(model, variables, test_images)
    predicted.append(classes)
    trained.append(units)
    untrained.append(_units(model, start, test_images)[1])
  return trained, untrained, predicted


def _matched(nets, layer) -> float:
  """Mean bipartite-matched correlation of `layer` over all pairs of nets."""
  means = []
  for a, b in itertools.combinations(nets, 2):
    _, _, r = alignment.bipartite_match(alignment.correlation(
        a[layer], b[layer]).matrix)
    means.append(float(np.mean(r)))
  return float(np.mean(means))


def _explained(nets, layer) -> tuple[float, float]:
  """Mean R^2 of each target unit: (LASSO <= MAX_INPUTS, one-to-one)."""
  sparse, single = [], []
  for a, b in itertools.permutations(nets, 2):
    c = alignment.correlation(a[layer], b[layer])
    _, cols, r = alignment.bipartite_match(c.matrix)
    one_to_one = np.zeros(len(c.kept_b))
    one_to_one[np.asarray(cols)] = np.asarray(r)**2
    fit = alignment.sparse_prediction(a[layer][:, c.kept_a],
                                      b[layer][:, c.kept_b], MAX_INPUTS)
    sparse.append(fit.explained)
    single.append(one_to_one)
  return (float(np.mean(np.concatenate(sparse))),
          float(np.mean(np.concatenate(single))))


def check():
  digits = encoding_model.load_digits()
  train_rows = np.asarray(digits.splits["train"])
  test_rows = np.asarray(digits.splits["test"])
  trained, untrained, predicted = _nets(
      digits.images[train_rows], digits.labels[train_rows],
      digits.images[test_rows])
  accuracy = [float(np.mean(p == digits.labels[test_rows]))
              for p in predicted]
  matched = {kind: {layer: _matched(nets, layer)
                    for layer in convergent.LAYERS}
             for kind, nets in (("trained", trained),
                                ("untrained", untrained))}
  explained = {layer: _explained(trained, layer)
               for layer in convergent.LAYERS}
  print(f"convergent: test accuracy {accuracy}; matched r {matched}; "
        f"R^2 (lasso<={MAX_INPUTS}, one-to-one) {explained}", file=sys.stderr)
  for layer in convergent.LAYERS:
    cka = [float(alignment.linear_cka(a[layer], b[layer]))
           for a, b in itertools.combinations(trained, 2)]
    dead = [len(alignment.constant_units(n[layer])) for n in trained]
    print(f"convergent {layer}: linear CKA {np.round(cka, 3).tolist()}, "
          f"constant units per net {dead}", file=sys.stderr)
  conv1, conv2 = (matched["trained"][k] for k in convergent.LAYERS[:2])
  random1 = matched["untrained"]["conv1"]
  gap = min(sparse - single for sparse, single in explained.values())
  return [
      measured("convergent",
               "each of the 3 digits CNNs (seeds 0-2) reaches >= 95% test "
               "accuracy (the comparison's precondition)",
               "min test accuracy", min(accuracy), None, MIN_ACCURACY),
      measured("convergent",
               "conv1 mean bipartite-matched correlation of trained pairs "
               ">= untrained pairs' + 0.15 (3 pairs, digits test split)",
               "matched r conv1 (baseline: untrained)", conv1, random1,
               random1 + MARGIN),
      measured("convergent",
               "conv1 converges at least as much as the middle layer conv2 "
               "(mean bipartite-matched r, trained pairs)",
               "matched r conv1 (baseline: conv2)", conv1, conv2, conv2),
      measured("convergent",
               "LASSO with <= 4 inputs explains more variance than the "
               "one-to-one match, in every layer (trained pairs)",
               "min over layers of R^2 gap (lasso - bipartite)", gap, None,
               0.0, strict=True),
  ]
