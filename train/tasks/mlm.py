"""Masked language modelling (BERT-style) for bidirectional encoders.

Inputs: {"tokens": int32 [B, L]} (a window's every token; the LM windows'
extra target token is just one more input). Each real token after the
first (pad excluded) is picked with probability `TRAIN_RATE`; a pick
becomes <mask> 80%, a random ordinary id 10%, itself 10%
(`zoo.retrieval.dupmae.mask_tokens`), drawn from the step's key. The loss
is the mean cross-entropy of the original ids at the picks, from the
model's logits [B, L, V] of the corrupted ids.

Ours (UNVERIFIED): Ettin's 30% rate with BERT's 80/10/10 split; picks are
independent per token (not an exact count per window); evaluation uses
`EVAL_RATE` (15%, Ettin's) through `masked_loss`.
"""

import numpy as np
from jax import numpy as jnp

from train.tasks import Task
from zoo.lm import special_tokens
from zoo.retrieval.dupmae import mask_tokens, masked_cross_entropy

TRAIN_RATE = 0.3
EVAL_RATE = 0.15


def prepare(examples):
  return {"tokens": np.asarray(examples["tokens"], np.int32)}


def init(model, key, inputs):
  return model.init({"params": key}, inputs["tokens"])


def corrupt(key, tokens, rate: float, vocab_size: int):
  """(corrupted ids [B, L], picked [B, L] bool) of tokens [B, L]."""
  tokens = jnp.asarray(tokens)
  return mask_tokens(key, tokens, tokens != special_tokens.PAD, rate,
                     vocab_size=vocab_size, bert_style=True)


def masked_loss(model, variables, tokens, key, rate: float):
  """(mean CE at the picks, accuracy there) at masking rate `rate`."""
  corrupted, picked = corrupt(key, tokens, rate, model.config.vocab_size)
  logits = model.apply(variables, corrupted)  # [B, L, V]
  hits = (jnp.argmax(logits, -1) == tokens) & picked
  accuracy = hits.sum() / jnp.maximum(picked.sum(), 1)
  return masked_cross_entropy(logits, tokens, picked), accuracy


def loss(model, variables, inputs, key):
  value, accuracy = masked_loss(model, variables, inputs["tokens"], key,
                                TRAIN_RATE)
  return value, ({"mlm_nll": value, "accuracy": accuracy}, {})


TASK = Task(
    name="mlm",
    features=("tokens",),
    prepare=prepare,
    init=init,
    loss=loss,
)
