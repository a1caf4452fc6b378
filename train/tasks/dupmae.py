"""DupMAE pretraining (`zoo.retrieval.dupmae`) on unpaired stdlib texts.

Each batch of B `stdlib_code_search` pairs gives 2B unpaired texts, its B
docstring queries and its B functions, tokenized with the code BPE (2,048
ids, the tokenizer stored with `stdlib_code_bpe`) as <bos> ids, cut at
`LENGTH` tokens. The pairing is never used: the losses read one text at a
time. Masks are drawn from the step's key, so a seed fixes them.
"""


import jax
from jax import numpy as jnp

from train import loop
from train.store import lm as lm_store
from train.tasks import Task
from zoo import sharding
from zoo.retrieval import dupmae, rankers

LENGTH = dupmae.DupMAEConfig.max_length  # 96


def tokenizer():
  """The code BPE (`stdlib_code_bpe`'s, built from the stdlib if needed)."""
  return lm_store.corpus_tokenizer("stdlib_code_bpe")


def _text(value) -> str:
  return value.decode() if isinstance(value, bytes) else str(value)


def prepare(examples):
  """Queries and code of B pairs -> {"ids", "mask"} [B, 2, LENGTH] (each
  pair's two texts side by side, so the batch axis stays B)."""
  texts = [_text(t) for pair in zip(examples["query"], examples["code"])
           for t in pair]
  ids, mask = dupmae.tokenize(tokenizer(), texts, LENGTH)
  return {"ids": ids.reshape(-1, 2, LENGTH),
          "mask": mask.reshape(-1, 2, LENGTH)}


def _texts(inputs):
  """[B, 2, L] inputs -> [2B, L] ids and mask: unpaired texts."""
  return tuple(jnp.asarray(inputs[name]).reshape(-1, LENGTH)
               for name in ("ids", "mask"))


def init(model, key, inputs):
  ids, mask = _texts(inputs)
  return model.init({"params": key}, ids, mask, ids)


def objective(model, variables, ids, mask, key):
  """DupMAE's loss of a batch of texts and its parts.

  Args:
    model: a `dupmae.DupMAE`; its config's weights pick the terms (both 0:
      MLM only, and the decoder is not run).
    variables: the model's variables.
    ids: [B, L] int ids (<bos> first); mask: [B, L] bool real tokens.
    key: PRNG key for both maskings.

  Returns:
    (scalar loss, {"mlm", "decoder", "bow": scalar parts that were used}).
  """
  cfg = model.cfg
  encoder_key, decoder_key = jax.random.split(key)
  masked, picked = dupmae.mask_tokens(
      encoder_key, ids, mask, cfg.encoder_mask_rate,
      vocab_size=cfg.vocab_size, bert_style=True)
  context, context_picked = (None, None)
  if cfg.decoder_weight:
    context, context_picked = dupmae.mask_tokens(
        decoder_key, ids, mask, cfg.decoder_mask_rate,
        vocab_size=cfg.vocab_size, bert_style=False)
  _, logits, decoded = model.apply(variables, masked, mask, context)
  parts = {"mlm": dupmae.masked_cross_entropy(logits, ids, picked)}
  total = parts["mlm"]
  if cfg.decoder_weight:
    parts["decoder"] = dupmae.masked_cross_entropy(decoded, ids,
                                                   context_picked)
    total = total + cfg.decoder_weight * parts["decoder"]
  if cfg.bow_weight:
    ordinary = dupmae.ordinary_tokens(mask)
    z = dupmae.ot_pool(logits, ordinary)
    parts["bow"] = dupmae.bow_loss(
        z, dupmae.bow_weights(ids, ordinary, cfg.vocab_size)).mean()
    total = total + cfg.bow_weight * parts["bow"]
  return total, parts


def loss(model, variables, inputs, key):
  value, parts = objective(model, variables, *_texts(inputs), key)
  return value, (parts, {})


TASK = Task(
    name="dupmae",
    features=("query", "code"),
    prepare=prepare,
    init=init,
    loss=loss,
)


def ranker_for(dataset: str, workdir: str | None) -> rankers.Ranker:
  """`python -m eval retrieval --system dupmae --workdir W`: the pretrained
  model of run W, zero-shot, scored by its full vector [h_cls ; OT]."""
  del dataset  # pretrained on unpaired texts; it ranks any texts
  if not workdir:
    raise ValueError("dupmae needs --workdir of a training run")
  run, state, _ = loop.load(workdir, mesh=sharding.MeshConfig(data=1),
                            devices=jax.devices()[:1])
  return dupmae.ranker(run.model, run.variables(state), tokenizer())

