"""The autoregressive line recognizer, teacher-forced (CPPD's baseline).

The decoder reads [BOS, c_1, ..., c_L] and predicts [c_1, ..., c_L, EOS];
the loss is the same label-smoothed cross-entropy as CPPD's character loss.
"""

from jax import numpy as jnp

from train.tasks import Task
from train.tasks.cppd import prepare
from zoo.lm import special_tokens
from zoo.vision.recognition import sequence_loss


def decoder_inputs(labels):
  """[B, S] labels -> [B, S] inputs: BOS, then the labels shifted right."""
  bos = jnp.full((labels.shape[0], 1), special_tokens.BOS, labels.dtype)
  return jnp.concatenate([bos, labels[:, :-1]], axis=1)


def init(model, key, inputs):
  return model.init({"params": key}, inputs["image"],
                    decoder_inputs(inputs["label"]))


def loss(model, variables, inputs, key):
  del key  # deterministic
  labels = inputs["label"]
  logits = model.apply(variables, inputs["image"], decoder_inputs(labels))
  total, metrics = sequence_loss(logits, labels, model.cfg.label_smoothing)
  return total, (metrics, {})


TASK = Task(
    name="strip_ar",
    features=("image", "label"),
    prepare=prepare,
    init=init,
    loss=loss,
)
