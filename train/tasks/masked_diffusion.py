"""Masked-diffusion training of `zoo.lm.diffusion.MaskedDiffusionLM`.

Inputs: {"tokens": int32 [B, L]}, the canvas `[prompt | answer]` whose
first `model.config.prompt_len` tokens are the prompt (list tasks), or a
text window cut to `model.config.max_len` tokens whose start serves as the
prompt. Each step masks every answer position with a per-sequence rate t
(`diffusion.corrupt`) and scores the masked positions
(`diffusion.diffusion_loss`, weighted as the config says).
"""

from train.tasks import Task, lm_next_token
from zoo.lm import diffusion


def _canvas(model, tokens):
  max_len = model.config.max_len
  return tokens[:, :max_len] if max_len else tokens


def init(model, key, inputs):
  return model.init({"params": key}, _canvas(model, inputs["tokens"]))


def loss(model, variables, inputs, key):
  cfg = model.config
  tokens = _canvas(model, inputs["tokens"])
  noisy, masked, t = diffusion.corrupt(key, tokens, cfg.prompt_len)
  logits = model.apply(variables, noisy)
  value, accuracy = diffusion.diffusion_loss(
      logits, tokens, masked, t, cfg.prompt_len, cfg.loss_weighting)
  return value, ({"masked_accuracy": accuracy}, {})


TASK = Task(
    name="masked_diffusion",
    features=("tokens",),
    prepare=lm_next_token.prepare,
    init=init,
    loss=loss,
)
