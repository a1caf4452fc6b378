"""Mistral-SPLADE's training: InfoNCE + FLOPS on (docstring, code) pairs.

Batches hold B (query, code) pairs of `stdlib_code_search` as text,
tokenized here with the BPE of the zoo's code LM (`stdlib_code_bpe`, no
special tokens): queries cut at `QUERY_LEN` tokens (longer than every query
of the train split), code at `splade_llm.COPY_LEN`, so every step has one
shape. The model starts from the trained code LM (`train.store.lm`) and
trains whole. In-batch negatives, query -> code (`zoo.retrieval.splade_llm
.loss`); the FLOPS weights warm up quadratically over `flops_warmup` steps,
counted in the "schedule" collection (the loss returns it advanced).

`ranker_for` ranks texts with a trained run (`python -m eval retrieval
--system splade_llm --workdir W`).
"""


import jax
from jax import numpy as jnp

from train import loop
from train.store import lm as lm_store
from train.store import pretrained
from train.tasks import Task
from zoo import sharding
from zoo.retrieval import rankers, splade_llm

QUERY_LEN = 48


def tokenizer():
  """The code LM's BPE tokenizer (that of `stdlib_code_bpe`)."""
  return lm_store.corpus_tokenizer("stdlib_code_bpe")


def prepare(examples):
  """{"query": texts, "code": texts} (either or both) -> ids and masks."""
  out = {}
  for name, length in (("query", QUERY_LEN), ("code", splade_llm.COPY_LEN)):
    if name in examples:
      out[name], out[f"{name}_mask"] = splade_llm.token_ids(
          tokenizer(), examples[name], length)
  return out


def init(model, key, inputs):
  """The model with the target LM's weights, and the step counter at 0."""
  cfg = model.cfg
  config, params = lm_store.target_params(cfg.target, cfg.target_smoke)
  if config != cfg.decoder:
    raise ValueError(f"model.decoder must be the {cfg.target!r} target's "
                     f"config {config}, got {cfg.decoder}")
  variables = dict(model.init({"params": key}, inputs["query"],
                              inputs["query_mask"]))
  variables["params"] = {**variables["params"],
                         "lm": pretrained.filled(variables["params"]["lm"],
                                                 params, "the target LM")}
  variables["schedule"] = {"step": jnp.zeros((), jnp.int32)}
  return variables


def _active(x):
  return jnp.mean(jnp.sum(x > 0, axis=-1))


def loss(model, variables, inputs, key):
  del key  # deterministic
  cfg = model.cfg
  step = variables["schedule"]["step"]
  params = {"params": variables["params"]}
  q = model.apply(params, inputs["query"], inputs["query_mask"])
  d = model.apply(params, inputs["code"], inputs["code_mask"])
  value, parts = splade_llm.loss(
      q, d, lambda_q=splade_llm.flops_weight(cfg.lambda_q, step,
                                             cfg.flops_warmup),
      lambda_d=splade_llm.flops_weight(cfg.lambda_d, step, cfg.flops_warmup))
  accuracy = jnp.mean(jnp.argmax(q @ d.T, axis=-1) == jnp.arange(len(q)))
  metrics = {**parts, "in_batch_accuracy": accuracy,
             "query_dims": _active(q), "code_dims": _active(d)}
  return value, (metrics, {"schedule": {"step": step + 1}})


TASK = Task(
    name="splade_llm",
    features=("query", "code"),
    prepare=prepare,
    init=init,
    loss=loss,
)


def ranker_for(dataset: str, workdir: str | None) -> rankers.Ranker:
  """`python -m eval retrieval --system splade_llm --workdir W`."""
  del dataset  # trained on code search; it ranks any texts
  if not workdir:
    raise ValueError("splade_llm needs --workdir of its training run")
  run, state, _ = loop.load(workdir, mesh=sharding.MeshConfig(data=1),
                            devices=jax.devices()[:1])
  params = {"params": jax.device_get(state.params)}
  return splade_llm.ranker(run.model, params, tokenizer())

