"""In-batch contrastive training of a ColBERT head through MaxSim.

Each batch holds B (query, code) pairs as frozen encoder token states
(`stdlib_code_search_minilm`). The head projects both sides; `ops.maxsim`
scores every query against every code of the batch ([B, B], its custom VJP
sends gradient only to each query token's best-matching code token); the loss
is the cross-entropy of scores / temperature with the positives on the
diagonal, PyLate's `losses.Contrastive` with in-batch negatives.

Queries are cut or padded to `QUERY_LEN` tokens and code to `DOC_LEN` (the
encoder's truncation length), with masks, so every step has one shape and
compiles once.
"""

import numpy as np
import optax
from jax import numpy as jnp

import ops
from train.tasks import Task

QUERY_LEN = 32  # PyLate's default query_length
DOC_LEN = 256


def fixed_length(states: np.ndarray, lengths: np.ndarray, max_len: int
                 ) -> tuple[np.ndarray, np.ndarray]:
  """Cuts or zero-pads token states to `max_len` tokens.

  Args:
    states: [B, L, D], the first `lengths[b]` tokens of row b real.
    lengths: [B] int.
    max_len: tokens to keep.

  Returns:
    ([B, max_len, D] float32 states, zero at padding; [B, max_len] bool mask).
  """
  states = np.asarray(states)[:, :max_len].astype(np.float32)
  if states.shape[1] < max_len:
    width = max_len - states.shape[1]
    states = np.pad(states, ((0, 0), (0, width), (0, 0)))
  mask = np.arange(max_len)[None, :] < np.asarray(lengths)[:, None]
  return np.where(mask[..., None], states, 0.0).astype(np.float32), mask


def prepare(examples):
  """Stored states -> query [B, QUERY_LEN, D], code [B, DOC_LEN, D], masks."""
  query, query_mask = fixed_length(examples["query_states"],
                                   examples["query_length"], QUERY_LEN)
  code, code_mask = fixed_length(examples["code_states"],
                                 examples["code_length"], DOC_LEN)
  return {"query": query, "query_mask": query_mask, "code": code,
          "code_mask": code_mask}


def init(model, key, inputs):
  return model.init({"params": key}, inputs["query"])


def contrastive_loss(q, d, q_mask, d_mask, temperature: float):
  """In-batch cross-entropy over MaxSim, positives on the diagonal.

  Args:
    q: [B, Lq, D] query token vectors; d: [B, Ld, D] code token vectors of
      the same B pairs.
    q_mask: [B, Lq] bool; d_mask: [B, Ld] bool.
    temperature: scores are divided by it.

  Returns:
    (mean loss, {"in_batch_accuracy": fraction of queries whose own code
    scores highest}).
  """
  logits = ops.maxsim(q, d, q_mask=q_mask, d_mask=d_mask,
                      pairs="all") / temperature  # [B, B]
  labels = jnp.arange(logits.shape[0])
  ce = optax.softmax_cross_entropy_with_integer_labels(logits, labels)
  accuracy = jnp.mean(jnp.argmax(logits, axis=-1) == labels)
  return jnp.mean(ce), {"in_batch_accuracy": accuracy}


def loss(model, variables, inputs, key):
  del key  # deterministic
  q, q_mask = model.apply(variables, inputs["query"], inputs["query_mask"],
                          "query", method="encode")
  d, d_mask = model.apply(variables, inputs["code"], inputs["code_mask"],
                          "doc", method="encode")
  value, metrics = contrastive_loss(q, d, q_mask, d_mask,
                                    model.cfg.temperature)
  return value, (metrics, {})


TASK = Task(
    name="colbert_contrastive",
    features=("query_states", "query_length", "code_states", "code_length"),
    prepare=prepare,
    init=init,
    loss=loss,
)
