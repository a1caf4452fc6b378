"""ColBERT fine-tuning from text: encoder and head trained together.

The same in-batch contrastive loss through MaxSim as `colbert_contrastive`,
but the batch holds token ids of the (query, code) pairs of
`stdlib_code_search`, tokenized here with all-MiniLM-L6-v2's tokenizer, and
the model runs the encoder, which starts from MiniLM's weights.
"""

import functools

import flax.linen as nn
import jax
import numpy as np
from flax import traverse_util

from train.tasks import Task, colbert_contrastive
from zoo.retrieval import minilm

QUERY_LEN = colbert_contrastive.QUERY_LEN
# Shorter than the frozen path's 256 tokens: a CPU-budget choice for a model
# whose encoder trains; code has a median of about 64 tokens.
DOC_LEN = 128


@functools.cache
def _tokenizer() -> minilm.MiniLM:
  return minilm.load(DOC_LEN)


def token_ids(texts, length: int) -> tuple[np.ndarray, np.ndarray]:
  """Texts -> ([N, length] int32 ids, [N, length] bool mask), cut or padded.

  Texts are truncated to `DOC_LEN` tokens by the tokenizer ([SEP] kept),
  then cut to `length`; queries are at most 28 tokens, so cutting them at
  32 keeps their [SEP].
  """
  texts = [t.decode() if isinstance(t, bytes) else str(t) for t in texts]
  tokens = _tokenizer().tokenize(texts)
  ids = tokens["input_ids"][:, :length]
  mask = tokens["attention_mask"][:, :length].astype(bool)
  pad = length - ids.shape[1]
  return (np.pad(ids, ((0, 0), (0, pad))).astype(np.int32),
          np.pad(mask, ((0, 0), (0, pad))))


def prepare(examples):
  """{"query": texts, "code": texts} (either or both) -> ids and masks."""
  out = {}
  for name, length in (("query", QUERY_LEN), ("code", DOC_LEN)):
    if name in examples:
      out[name], out[f"{name}_mask"] = token_ids(examples[name], length)
  return out


def init(model, key, inputs):
  variables = model.init({"params": key}, inputs["query"],
                         inputs["query_mask"])
  if model.cfg.pretrained:
    variables["params"]["encoder"] = _with_pretrained(
        variables["params"]["encoder"], _tokenizer().params)
  return variables


def _with_pretrained(boxed, pretrained):
  """Fills logically-boxed init params with pretrained values (same tree)."""
  flat = traverse_util.flatten_dict(pretrained)
  is_box = lambda x: isinstance(x, nn.meta.AxisMetadata)
  boxed_flat = traverse_util.flatten_dict(boxed, is_leaf=lambda _, x: is_box(
      x))
  if flat.keys() != boxed_flat.keys():
    raise ValueError("pretrained encoder params do not match the model")
  filled = {k: (b.replace_boxed(jax.numpy.asarray(flat[k])) if is_box(b)
                else jax.numpy.asarray(flat[k]))
            for k, b in boxed_flat.items()}
  return traverse_util.unflatten_dict(filled)


TASK = Task(
    name="colbert_finetune",
    features=("query", "code"),
    prepare=prepare,
    init=init,
    loss=colbert_contrastive.loss,
)
