"""Per-residue secondary structure (H/E/C) from clean residue frames only:
cross-entropy of a frame network's class logits on `peptide_backbones`."""

import optax
from jax import numpy as jnp

from train.tasks import Task
from train.tasks.frame_denoise import clean_frames, init, prepare


def loss(model, variables, inputs, key):
  del key  # deterministic
  frames = clean_frames(inputs)
  mask = inputs["residue_mask"]
  logits = model.apply(variables, frames.rot, frames.trans, mask).logits
  ce = optax.softmax_cross_entropy_with_integer_labels(logits,
                                                       inputs["labels"])
  correct = jnp.argmax(logits, -1) == inputs["labels"]
  metrics = {"label_accuracy": jnp.sum(correct * mask) / jnp.sum(mask)}
  return jnp.sum(ce * mask) / jnp.sum(mask), (metrics, {})


TASK = Task(
    name="frame_labels",
    features=("backbone", "label"),
    prepare=prepare,
    init=init,
    loss=loss,
)
