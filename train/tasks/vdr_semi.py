"""VDR's query side trained with the semi loss on frozen MiniLM states.

Batches hold B (query, code) pairs of `stdlib_code_search_minilm` as stored
states; their token ids (for the bags of words) come from the pairs' texts
in `stdlib_code_search`, found by key and tokenized here with MiniLM's
tokenizer. The passage side is fixed (`VDRModel.encode_passages`, no
gradient); in-batch negatives, both directions. A "mean" model (the dense
baseline) trains with InfoNCE instead. Queries are cut at `QUERY_LEN` tokens
and code at `DOC_LEN`, so every step has one shape.
"""

import functools

import jax
import numpy as np
from jax import numpy as jnp

from ops import sparse
from train.data import sources
from train.data.builders import stdlib_code_search, stdlib_code_search_minilm
from train.tasks import Task, colbert_contrastive
from zoo.retrieval import minilm, vdr

QUERY_LEN = colbert_contrastive.QUERY_LEN
DOC_LEN = 128  # the claim's training length for code


@functools.cache
def _texts() -> dict[str, tuple[str, str]]:
  """key -> (query, code) of every stdlib_code_search pair (keys as the
  stored states name them; a base key always falls in one split)."""
  out = {}
  for split in stdlib_code_search.SPLITS:
    source = sources.data_source("stdlib_code_search", split)
    pairs = [stdlib_code_search.Pair(
        r["path"].decode(), r["qualname"].decode(), 0, r["query"].decode(),
        r["code"].decode()) for r in source.__getitems__(range(len(source)))]
    keys = stdlib_code_search_minilm.unique_keys(pairs)
    out.update({k: (p.query, p.code) for k, p in zip(keys, pairs)})
  return out


@functools.cache
def _tokenizer(length: int) -> minilm.MiniLM:
  return minilm.load(length)


def _ids(texts, length: int) -> np.ndarray:
  """[N, length] int32 token ids, 0 ([PAD]) after each text."""
  ids = _tokenizer(length).tokenize(list(texts))["input_ids"][:, :length]
  return np.pad(ids, ((0, 0), (0, length - ids.shape[1]))).astype(np.int32)


def prepare(examples):
  """Stored states and keys -> states, masks and token ids of both sides."""
  out = colbert_contrastive.prepare(examples)
  out["code"], out["code_mask"] = out["code"][:, :DOC_LEN], out[
      "code_mask"][:, :DOC_LEN]
  texts = [_texts()[k.decode() if isinstance(k, bytes) else str(k)]
           for k in examples["key"]]
  out["query_ids"] = _ids([q for q, _ in texts], QUERY_LEN)
  out["code_ids"] = _ids([c for _, c in texts], DOC_LEN)
  return out


def init(model, key, inputs):
  variables = model.init({"params": key}, inputs["query"],
                         inputs["query_mask"])
  rows = vdr.vocab_rows(_tokenizer(DOC_LEN))
  shape = variables["constants"]["vocab"].shape
  if shape != rows.shape:
    raise ValueError(f"model: vocab_rows x hidden must be MiniLM's "
                     f"{rows.shape}, got {shape}")
  variables["constants"]["vocab"] = jnp.asarray(rows)
  return variables


def _bow(ids, cfg):
  return sparse.bow(ids, ids > 0, vocab_size=cfg.vocab_rows,
                    offset=vdr.VOCAB_OFFSET)


def loss(model, variables, inputs, key):
  del key  # deterministic
  cfg = model.cfg
  q = model.apply(variables, inputs["query"], inputs["query_mask"])
  p = jax.lax.stop_gradient(model.apply(
      variables, inputs["code"], inputs["code_mask"],
      method="encode_passages"))
  labels = jnp.arange(q.shape[0])
  if cfg.head == "mean":
    value = vdr.info_nce(q, p, labels, temperature=cfg.temperature,
                         symmetric=True)
  else:
    value = vdr.semi_loss(q, _bow(inputs["query_ids"], cfg), p,
                          _bow(inputs["code_ids"], cfg), labels, k=cfg.topk,
                          temperature=cfg.temperature, symmetric=True)
  accuracy = jnp.mean(jnp.argmax(q @ p.T, axis=-1) == labels)
  return value, ({"in_batch_accuracy": accuracy}, {})


TASK = Task(
    name="vdr_semi",
    features=("key", "query_states", "query_length", "code_states",
              "code_length"),
    prepare=prepare,
    init=init,
    loss=loss,
)
