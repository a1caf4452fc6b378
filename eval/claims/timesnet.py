"""×Net's claim: a decoder initialised from the pre-trained classifier's
stages beats a randomly initialised one.

Toy version on synthetic data (`shape_scenes` for pre-training,
`depth_scenes`: ray-cast floor, wall and spheres with analytic depth), not
NYU or KITTI; the claim is about the mechanism.

Setting (fixed by the issue before any run): for each seed 0, 1, 2 the
4-stage CNN is pre-trained to classify `shape_scenes`
(`timesnet.py:stage=classify,seed=s`, 1,000 steps of batch 32), then three
depth models of identical architecture train 600 steps (batch 16) on the
2,000 training scenes, all with that seed's pre-trained encoder: the
decoder's stages copied from the classifier (reversed), random decoder
stages, and copied stages without input mixing (alpha = 0). Training uses
the system's tasks and optimizer step on in-memory arrays
(`eval.claims.in_memory`). Test: AbsRel and delta1 (< 1.25) over the
pixels of the 400 test scenes.

Claims: (1) mean AbsRel (3 seeds) of the pre-trained decoder <= 0.9x the
random decoder's (the issue's). Reported with it (ours: thresholds at "no
worse"): (2) mean delta1 of the pre-trained decoder >= the random one's;
(3) AbsRel with mixing / AbsRel at alpha = 0 <= 1.

Measured (2026-12-06, 2 shared cores at load 4-9; 19 min wall, 13 min of
CPU): claim 1 FAILS, mean AbsRel 0.1231 (pre-trained decoder) against
0.1152 (random), ratio 1.069 (per seed 0.137/0.116, 0.113/0.096,
0.119/0.133: the copied decoder wins one seed of three); claim 2 FAILS
narrowly, delta1 0.874 against 0.878; claim 3 passes, 0.843 (mixing
lowers AbsRel by 16% against alpha = 0, 0.146, on every seed).
Diagnosis of 1 and 2 (not tested further): (a) the difference is within
the seed-to-seed spread (the random arm alone ranges 0.096-0.133), so
three seeds cannot separate the arms; (b) what the stages learn from
`shape_scenes` transfers little to a decoder here: the scenes are flat,
untextured shapes on uniform grey, and a 1,000-step multi-label classifier
pooled globally tunes its deeper stages towards position-invariant
presence detectors, while the decoder needs spatial, shading and
perspective cues; the paper's premise relies on ImageNet-scale backbones
whose mid-level features are generic; (c) a decoder stage receives a 1x1
projection of upsampled features, far from the images the stage was
trained on; input mixing narrows that gap and helps (claim 3), but not
enough for the copied weights to beat a fresh start within 600 steps. We
report the values as measured; settings and thresholds were not changed
after the run.
"""

import dataclasses
import functools
import sys

import jax
import numpy as np

from eval.claims import in_memory, measured
from train import config as config_lib
from train.data.builders import depth_scenes, shape_scenes
from train.tasks import depth_regression, scene_classification
from zoo.arch import timesnet

SEEDS = (0, 1, 2)
ARMS = {"copy": "decoder=copy", "random": "decoder=random",
        "alpha0": "decoder=copy,mixing=false"}


def _scenes(generate, indices, features) -> dict[str, np.ndarray]:
  scenes = [generate(i) for i in indices]
  return {f: np.stack([s[f] for s in scenes]) for f in features}


def test_metrics(model, variables, test: dict[str, np.ndarray]
                 ) -> dict[str, float]:
  inputs = depth_regression.prepare(test)
  predicted = jax.jit(model.apply)(variables, inputs["image"])
  return {k: float(v) for k, v in timesnet.depth_metrics(
      predicted, inputs["depth"]).items()}


def check():
  shapes = _scenes(shape_scenes.generate, range(shape_scenes.NUM_TRAIN),
                   scene_classification.TASK.features)
  train = _scenes(depth_scenes.generate, range(depth_scenes.NUM_TRAIN),
                  depth_regression.TASK.features)
  test = _scenes(depth_scenes.generate, range(depth_scenes.NUM_TRAIN,
                                              depth_scenes.NUM_SCENES),
                 depth_regression.TASK.features)
  results = {arm: [] for arm in ARMS}
  for seed in SEEDS:
    cfg = config_lib.load_config(f"timesnet.py:stage=classify,seed={seed}")
    _, classifier = in_memory.train(cfg, scene_classification.TASK, shapes)
    task = dataclasses.replace(depth_regression.TASK, init=functools.partial(
        depth_regression.init_with, classifier=classifier["params"]))
    for arm, flags in ARMS.items():
      cfg = config_lib.load_config(f"timesnet.py:seed={seed},{flags}")
      model, variables = in_memory.train(cfg, task, train)
      results[arm].append(test_metrics(model, variables, test))
      print(f"timesnet seed {seed} {arm}: {results[arm][-1]}",
            file=sys.stderr)
  mean = {arm: {k: float(np.mean([r[k] for r in runs])) for k in runs[0]}
          for arm, runs in results.items()}
  copy, random, alpha0 = mean["copy"], mean["random"], mean["alpha0"]
  return [
      measured("timesnet",
               "pre-trained decoder AbsRel <= 0.9x a random decoder's, mean "
               "of 3 seeds, 600 steps (depth_scenes)",
               "abs_rel ratio pretrained / random decoder",
               copy["abs_rel"] / random["abs_rel"], random["abs_rel"], 0.9,
               higher_is_better=False),
      measured("timesnet",
               "pre-trained decoder delta1 (< 1.25) no worse than a random "
               "decoder's, mean of 3 seeds (depth_scenes)",
               "delta1", copy["delta1"], random["delta1"], random["delta1"]),
      measured("timesnet",
               "input mixing no worse than alpha = 0 (pre-trained decoder), "
               "AbsRel ratio, mean of 3 seeds (depth_scenes)",
               "abs_rel ratio mixing / alpha0",
               copy["abs_rel"] / alpha0["abs_rel"], alpha0["abs_rel"], 1.0,
               higher_is_better=False),
  ]
