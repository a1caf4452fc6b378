"""WAVE on `synthetic_fmri`: fMRI aligned to frozen image and text encoders.

`init` first trains the frozen CLIP stand-ins (the digits CNN and the text
encoder, `standin_steps` of batch 128 on the digits train split: each image
against the 10 class prompts, cross-entropy of scaled cosines) and
pre-trains the fMRI encoder by CSM (`csm_steps` of batch 64 on the rest
runs: next-TR MSE); both Adam 1e-3, seed 0 (`pretrained`), cached per
process. `loss` augments the BOLD (20% parcels zeroed, first 5 TRs
permuted), stops the gradient into the stand-ins, and returns the mean of
the two symmetric InfoNCE terms.
"""

import functools

import flax.linen as nn
import jax
import numpy as np
import optax
from jax import numpy as jnp

from train.data import encoding_model
from train.data.builders import synthetic_fmri
from train.tasks import Task
from zoo.arch import fmri_wave


def prepare(examples):
  """{"bold", "pixels", "label", "code", "image"} -> model inputs, with TR
  times [B, T] (s) and an all-valid attention mask [B, T]."""
  bold = np.asarray(examples["bold"], np.float32)
  b, t, _ = bold.shape
  times = synthetic_fmri.RECIPE.tr * np.arange(t, dtype=np.float32)
  return {"bold": bold, "times": np.broadcast_to(times, (b, t)),
          "valid": np.ones((b, t), bool),
          "pixels": np.asarray(examples["pixels"], np.float32),
          "label": np.asarray(examples["label"], np.int32),
          "code": np.asarray(examples["code"], np.float32),
          "image": np.asarray(examples["image"], np.int64)}


def _apply(model, variables, inputs):
  return model.apply(variables, inputs["bold"], inputs["times"],
                     inputs["valid"], inputs["pixels"], inputs["label"])


def _fit(loss_fn, params, batches, steps):
  """Adam 1e-3 on `loss_fn(params, batch)` over `batches(step)`."""
  tx = optax.adam(1e-3)
  opt_state = tx.init(params)

  @jax.jit
  def step(params, opt_state, batch):
    grads = jax.grad(loss_fn)(params, batch)
    updates, opt_state = tx.update(grads, opt_state)
    return optax.apply_updates(params, updates), opt_state

  for s in range(steps):
    params, opt_state = step(params, opt_state, batches(s))
  return params


def _seed(key) -> list[int]:
  return np.asarray(jax.random.key_data(key)).tolist()


def pretrain_standins(model, params, key, steps):
  """The image and text encoders trained CLIP-style on the digits."""
  digits = encoding_model.load_digits()
  rows = np.asarray(digits.splits["train"])
  order = np.random.default_rng(_seed(key)).integers(0, len(rows),
                                                     (steps, 128))
  prompts = fmri_wave.prompt_ids(jnp.arange(10))

  def loss_fn(p, batch):
    pixels, labels = batch
    image = model.apply(p, pixels, method="encode_image")
    text = model.apply(p, prompts, method="encode_text")
    unit = lambda x: x / jnp.linalg.norm(x, axis=-1, keepdims=True)
    logits = jnp.exp(p["params"]["log_scale_image"]) * unit(image) @ unit(
        text).T
    return jnp.mean(optax.softmax_cross_entropy_with_integer_labels(
        logits, labels))

  batches = lambda s: (digits.images[rows[order[s]]],
                       digits.labels[rows[order[s]]])
  trained = _fit(loss_fn, params, batches, steps)
  return {k: trained["params"][k] for k in fmri_wave.FROZEN}


def pretrain_csm(model, params, key, steps):
  """The fMRI encoder trained to predict the next TR of rest runs."""
  rest = synthetic_fmri.generate()["rest"].bold
  order = np.random.default_rng(_seed(key)).integers(0, len(rest),
                                                     (steps, 64))

  shape = (64, rest.shape[1])
  times = np.broadcast_to(model.cfg.tr * np.arange(shape[1]), shape)

  def loss_fn(p, bold):
    _, next_tr = model.apply(p, bold, times, np.ones(shape, bool),
                             method="encode_fmri")
    return jnp.mean((next_tr[:, :-1] - bold[:, 1:]) ** 2)

  trained = _fit(loss_fn, params, lambda s: rest[order[s]], steps)
  return trained["params"]["fmri_encoder"]


@functools.cache
def pretrained(cfg: fmri_wave.FmriWaveConfig) -> dict:
  """{"image_encoder", "text_encoder", "fmri_encoder"} params, unboxed:
  fixed pre-trained weights (seed 0), the same for every WAVE run, as a
  store of trained models would give them. Runs eagerly even when called
  while `init` is traced."""
  model = fmri_wave.FmriWave(cfg)
  with jax.ensure_compile_time_eval():
    inputs = prepare({"bold": np.zeros((2, cfg.num_trs, cfg.num_parcels)),
                      "pixels": np.zeros((2, 8, 8)), "label": np.zeros(2),
                      "code": np.zeros(2), "image": np.zeros(2)})
    key = jax.random.key(0)
    params = nn.meta.unbox(model.init(key, *(inputs[k] for k in (
        "bold", "times", "valid", "pixels", "label"))))
    standin_key, csm_key = jax.random.split(key)
    return jax.device_get({
        **pretrain_standins(model, params, standin_key, cfg.standin_steps),
        "fmri_encoder": pretrain_csm(model, params, csm_key, cfg.csm_steps)})


def init(model, key, inputs):
  variables = model.init(key, *(inputs[k] for k in (
      "bold", "times", "valid", "pixels", "label")))
  params = dict(variables["params"])
  for name, trained in pretrained(model.cfg).items():
    params[name] = nn.meta.replace_boxed(params[name], trained)
  return {"params": params}


def augment(key, bold, cfg):
  mask_key, perm_key = jax.random.split(key)
  bold, _ = fmri_wave.mask_parcels(mask_key, bold, cfg.mask_rate)
  return fmri_wave.permute_first_trs(perm_key, bold, cfg.permuted_trs)


def loss(model, variables, inputs, key):
  params = fmri_wave.freeze(variables["params"])
  inputs = dict(inputs, bold=augment(key, inputs["bold"], model.cfg))
  outputs = _apply(model, {"params": params}, inputs)
  total, metrics = fmri_wave.loss(outputs, params["log_scale_image"],
                                  params["log_scale_text"])
  return total, (metrics, {})


TASK = Task(
    name="fmri_wave_clip",
    features=("bold", "pixels", "label", "code", "image"),
    prepare=prepare,
    init=init,
    loss=loss,
)
