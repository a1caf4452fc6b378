"""aTLAS on `digits`: learn the task vectors' coefficients Lam for the
target domain; nothing else trains.

`init` first trains theta0 on the clean digits train split and fine-tunes
it on each of the model's domains (`zoo.interp.atlas.pretrain`, seed 0,
cached per process, as a store of trained models would give them), and
puts them in the model's "task_vectors" collection. `loss` is the
cross-entropy of the composed CNN on the batch's images through the target
domains.
"""

import functools

import jax
import numpy as np

from train.data import encoding_model
from train.tasks import Task
from train.tasks.image_classification import prepare
from zoo.interp import atlas


@functools.cache
def pretrained(cfg: atlas.AtlasConfig) -> dict:
  """{"theta0", "taus"}: the CNN trained on the clean digits train split
  and its task vectors (seed 0). Runs eagerly even when called while
  `init` is traced."""
  digits = encoding_model.load_digits()
  rows = np.asarray(digits.splits["train"])
  with jax.ensure_compile_time_eval():
    theta0, taus = atlas.pretrain(cfg, digits.images[rows],
                                  digits.labels[rows], jax.random.key(0))
    return jax.device_get({"theta0": theta0, "taus": taus})


def init(model, key, inputs):
  variables = model.init({"params": key}, inputs["image"])
  return {"params": variables["params"], "task_vectors": pretrained(
      model.cfg)}


def loss(model, variables, inputs, key):
  images = atlas.apply_domains(model.cfg.target, inputs["image"], key)
  logits = model.apply(variables, images)
  correct = logits.argmax(-1) == inputs["label"]
  return atlas.cross_entropy(logits, inputs["label"]), (
      {"accuracy": correct.mean()}, {})


TASK = Task(
    name="task_vector_coefficients",
    features=("image", "label"),
    prepare=prepare,
    init=init,
    loss=loss,
)
