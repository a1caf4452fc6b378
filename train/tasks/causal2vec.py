"""Causal2Vec (or its <eos>-only baseline) fine-tuned for code search.

Batches hold B (query, code) pairs of `stdlib_code_search`, tokenized here
with the code LM's BPE (`stdlib_code_bpe`'s tokenizer, no specials):
queries cut at `QUERY_LEN` tokens, code at the model's `max_tokens`, so
every step has one shape. The loss is InfoNCE over cosine scores with
in-batch negatives, both directions (ours: no hard negatives are mined).
Everything trains: the LM (full fine-tune; LoRA unused), the light encoder
and the MLP. `init` starts the LM from the trained target named in the
config (`train.store.lm.load_target`) and the light encoder's word
embeddings from the LM's principal directions
(`zoo.retrieval.causal2vec.principal_rows`).
"""

import math

import jax
from jax import numpy as jnp

from ops import losses
from train import loop
from train.store import lm as lm_store
from train.store import pretrained
from train.tasks import Task
from zoo import sharding
from zoo.retrieval import causal2vec, rankers

# Training length of queries (99% of test queries fit; evaluation reads up
# to the model's max_tokens).
QUERY_LEN = 32


def tokenizer():
  """The code LM's BPE tokenizer (the one its target was trained with)."""
  return lm_store.corpus_tokenizer("stdlib_code_bpe")


def prepare(examples, max_tokens: int = causal2vec.MAX_TOKENS):
  """{"query": texts, "code": texts} (either or both) -> ids and masks."""
  out = {}
  for name, length in (("query", QUERY_LEN), ("code", max_tokens)):
    if name in examples:
      out[name], out[f"{name}_mask"] = causal2vec.token_ids(
          tokenizer(), list(examples[name]), length)
  return out


def init(model, key, inputs):
  cfg = model.cfg
  variables = model.init({"params": key}, inputs["query"],
                         inputs["query_mask"])
  params = dict(variables["params"])
  _, lm = lm_store.target_params(cfg.target, cfg.smoke_target)
  params["lm"] = pretrained.filled(params["lm"], lm,
                                  f"the {cfg.target!r} target LM")
  if cfg.contextual:
    encoder = dict(params["encoder"])
    embeddings = dict(encoder["embeddings"])
    words = dict(embeddings["word_embeddings"])
    words["embedding"] = pretrained.filled(
        words["embedding"], causal2vec.principal_rows(
            lm["embedding"]["embedding"], cfg.encoder.hidden),
        "the light encoder's word embeddings")
    embeddings["word_embeddings"] = words
    encoder["embeddings"] = embeddings
    params["encoder"] = encoder
  return {**variables, "params": params}


def loss(model, variables, inputs, key):
  del key  # deterministic: no dropout
  q = model.apply(variables, inputs["query"], inputs["query_mask"])
  d = model.apply(variables, inputs["code"], inputs["code_mask"])
  value = losses.info_nce(q, d, jnp.float32(-math.log(
      model.cfg.temperature)), symmetric=True)
  accuracy = jnp.mean(jnp.argmax(q @ d.T, axis=-1) == jnp.arange(len(q)))
  return value, ({"in_batch_accuracy": accuracy}, {})


TASK = Task(
    name="causal2vec",
    features=("query", "code"),
    prepare=prepare,
    init=init,
    loss=loss,
)


def ranker_for(dataset: str, workdir: str | None) -> rankers.Ranker:
  """`python -m eval retrieval --system causal2vec --workdir W`: a trained
  run's model (its own pool mode), cosine over the texts."""
  del dataset  # a trained model ranks any texts
  if not workdir:
    raise ValueError("causal2vec ranks with a trained model: give --workdir "
                     "of its training run")
  run, state, _ = loop.load(workdir, mesh=sharding.MeshConfig(data=1),
                            devices=jax.devices()[:1])
  return causal2vec.ranker(run.model, run.variables(state), tokenizer())
