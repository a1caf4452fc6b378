"""ARC-Encoder trained on the text target's windows, the decoder frozen.

Each example is a 257-token window of `stdlib_text_bpe` (the text target's
training data); its first `context_len` tokens are the context and the
next `continuation_len` the continuation (documents may start or end
inside a window, as in the target's own training). A step is
reconstruction (the decoder regenerates the context from its vectors) with
probability `reconstruction_rate`, drawn from the step's key, else
continuation (it predicts the continuation after the vectors); the loss is
the decoder's mean cross-entropy either way.

`init` starts the decoder from the trained target
(`train.store.lm.target_params`) and the compressor from its embedding
table and first blocks, then moves the decoder into the `frozen`
collection (`zoo.retrieval.arc_encoder.split_frozen`): the optimizer never
sees it, so its parameters stay bit-identical whatever the optimizer.
"""

import jax
import numpy as np
from jax import numpy as jnp

from train.store import lm as lm_store
from train.store import pretrained
from train.tasks import Task
from zoo.retrieval import arc_encoder


def prepare(examples):
  """{"tokens": [B, W] windows} -> {"context" [B, 128], "continuation"
  [B, 64]} ids (the lengths of every config here)."""
  context, continuation = arc_encoder.context_spans(
      np.asarray(examples["tokens"]), arc_encoder.CONTEXT,
      arc_encoder.CONTINUATION)
  return {"context": context, "continuation": continuation}


def start_params(model, key, inputs) -> dict:
  """Init params (boxed) with the target decoder and the compressor's
  start filled in; the `lm` entry still among them."""
  cfg = model.cfg
  lengths = inputs["context"].shape[1], inputs["continuation"].shape[1]
  if lengths != (cfg.context_len, cfg.continuation_len):
    raise ValueError(f"arc_encoder task: the data gives {lengths} context "
                     f"and continuation tokens, the model expects "
                     f"{(cfg.context_len, cfg.continuation_len)}")
  variables = model.init({"params": key}, inputs["context"],
                         inputs["continuation"])
  params = dict(variables["params"])
  _, lm = lm_store.target_params(cfg.target, cfg.smoke_target)
  what = f"the {cfg.target!r} target LM"
  params["lm"] = pretrained.filled(params["lm"], lm, what)
  encoder = dict(params["encoder"])
  encoder.update(pretrained.filled(
      {k: encoder[k] for k in arc_encoder.encoder_start(
          encoder, cfg.encoder_layers)},
      arc_encoder.encoder_start(lm, cfg.encoder_layers), what))
  params["encoder"] = encoder
  return {**variables, "params": params}


def init(model, key, inputs):
  return arc_encoder.split_frozen(start_params(model, key, inputs))


def loss(model, variables, inputs, key):
  cfg = model.cfg
  variables = arc_encoder.merged(variables)
  context = inputs["context"]

  def nll_after_vectors(targets):
    def run(module):
      return module.vectors_nll(module.compress(context), targets).mean()
    return model.apply(variables, method=run)

  rebuild = jax.random.bernoulli(key, cfg.reconstruction_rate)
  value = jax.lax.cond(rebuild, lambda: nll_after_vectors(context),
                       lambda: nll_after_vectors(inputs["continuation"]))
  return value, ({"reconstruction": rebuild.astype(jnp.float32)}, {})


TASK = Task(
    name="arc_encoder",
    features=("tokens",),
    prepare=prepare,
    init=init,
    loss=loss,
)
