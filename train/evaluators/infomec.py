"""Disentanglement of a trained autoencoder: InfoM, InfoC, InfoE and BCE.

For models returning (logits, latents, aux) on [B, H, W] images, with the
images' true factors in the batches (`train.tasks.bce_autoencoder`).
Latents are discrete (codes) when the model quantizes them
(`model.cfg.quantize`), else continuous; see `zoo.vq.infomec`.
"""

import functools

import jax
import numpy as np
import optax
from jax import numpy as jnp

from zoo.vq.infomec import infomec


@functools.partial(jax.jit, static_argnums=0)
def _latents_and_bce(model, variables, images):
  logits, latents, _ = model.apply(variables, images)
  bce = jnp.mean(optax.sigmoid_binary_cross_entropy(logits, images),
                 axis=(1, 2))
  return latents, bce


def evaluate(model, variables, batches, workdir=None) -> dict[str, float]:
  """Metrics over all real rows of `batches` ({"images", "factors",
  "mask"}): bce (per pixel), infom, infoc, infoe."""
  del workdir  # no plots
  latents, factors, bce = [], [], []
  for batch in batches:
    z, b = jax.device_get(_latents_and_bce(model, variables,
                                           batch["images"]))
    keep = np.asarray(batch["mask"], bool)
    latents.append(np.asarray(z)[keep])
    factors.append(np.asarray(batch["factors"])[keep])
    bce.append(np.asarray(b)[keep])
  scores = infomec(np.concatenate(factors), np.concatenate(latents),
                   discrete=bool(model.cfg.quantize))
  return {"bce": float(np.mean(np.concatenate(bce))),
          "infom": scores.infom, "infoc": scores.infoc, "infoe": scores.infoe}
