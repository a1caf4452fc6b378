"""The prototype network's claims: it classifies as well as a plain network,
its prototypes decode to images of their own class, and that is R1 and
R2's doing.

Setting (fixed by the issue before any run): train/configs/prototype_net.py
on scikit-learn's `digits` (1,437 train, 360 test images), 1,500 epochs
(8,622 steps of batch 250, Adam 2e-3), loss 20 CE + recon + R1 + R2,
elastic deformation sigma 1, alpha 2 (ours); seed 0, one device.
(1) Test accuracy >= 95%. (2) Each of the 15 prototypes is decoded to an
image and classified by a 5-NN on raw pixels over the 1,437 training
images (ours [recon]: the spec's "independent kNN on pixels" names no
reference set); at least 80% must get the class of their most negative
weight in W. (3) The same network trained with R1 = R2 = 0
(`prototype_net.py:ablate`): the agreement of (2) falls by >= 0.2
(value: the drop; baseline: the ablated agreement).

Measured (2026-12-06, 2 shared cores at load 10-11: 3.1 min wall, 2.4 min
of CPU, both trainings included): (1) passes, 98.1%; (2) FAILS, 11 of 15
prototypes agree (0.733); (3) passes, the ablated network's agreement is
7 of 15 (0.467), a drop of 0.267.
Diagnosis of (2), on the same trained run afterwards (settings unchanged):
the decoded prototypes do look like digits: 13 of 15 get from the pixel
5-NN the label of the training image whose code is nearest the prototype,
and every prototype lies closer to some training code (squared distance
0.19-0.51) than the median pair of one class (1.26), the R1 effect (in the
ablation 11-36 against 13.7). What fails is reading the class off W's most
negative entry. logits = D W leaves W free in sign, and W starts uniform
on [0, 1]: a class can be won by *positive* weights on the other
prototypes (being far from them) as well as by a negative weight on its
own. The one prototype of the 6s (every 6 is nearest it, and the 5-NN
says 6) has its most negative weight, -0.19, on class 8; another, holding
only 0s, has -0.89 on 2 against -0.80 on 0; a third sits among 4s and 9s
with its minimum on 8. The fourth miss is a prototype between the 1s and
the 8s (79 ones and 36 eights are nearest it) that decodes to a 1 while W
calls it an 8. With 15 prototypes for 10 classes on 1,437 images, a few
prototypes that W does not tie to their class cost more than the 3 misses
the threshold allows; the paper shows its MNIST prototypes and W but
reports no agreement rate to compare with. We report the value as
measured; settings and threshold were not changed after the run.
"""

import pathlib
import tempfile

import jax
import numpy as np

from eval.claims import measured
from train import config as config_lib
from train import loop
from train.data import sources
from train.evaluators import prototype_net as evaluator
from zoo.sharding import MeshConfig

NAME = "prototype_net"
NEIGHBOURS = 5
_OVERRIDES = ["mesh.data=1", "log_every=1000"]


def _train(spec: str, workdir: pathlib.Path):
  """Trains one config; returns (test accuracy, model, variables)."""
  cfg = config_lib.load_config(spec, _OVERRIDES)
  # One device: toy scale, and the same numbers on any host.
  devices = jax.devices()[:1]
  summary = loop.run(cfg, workdir, devices=devices)
  run, state, _ = loop.load(workdir, mesh=MeshConfig(data=1),
                            devices=devices)
  return summary["accuracy"], run.model, run.variables(state)


def _train_split():
  source = sources.data_source("digits", "train")
  records = source.__getitems__(range(len(source)))
  return (np.stack([r["image"] for r in records]).astype(np.float32),
          np.array([r["label"] for r in records]))


def check():
  images, labels = _train_split()
  accuracy, agreement = {}, {}
  with tempfile.TemporaryDirectory() as tmp:
    for name, spec in (("full", "prototype_net.py"),
                       ("ablated", "prototype_net.py:ablate")):
      accuracy[name], model, variables = _train(spec, pathlib.Path(tmp) / name)
      agreement[name] = evaluator.knn_agreement(
          model, variables, images, labels, NEIGHBOURS)
  return [
      measured(NAME, "test accuracy >= 95% (digits, 15 prototypes)",
               "test_accuracy", accuracy["full"], None, 0.95),
      measured(NAME, ">= 80% of decoded prototypes get their most "
               "negative W class from a pixel 5-NN", "prototype_knn_agreement",
               agreement["full"], None, 0.80),
      measured(NAME, "with R1 = R2 = 0 that agreement falls by >= 0.2 "
               "(value: the drop; baseline: the ablated agreement)",
               "agreement_drop_without_r1_r2",
               agreement["full"] - agreement["ablated"], agreement["ablated"],
               0.2),
  ]
