"""Classification through prototypes (`zoo.interp.prototype_net`).

Each training image is elastically deformed (`train.data.elastic`, the
model config's sigma and alpha, noise from the step's key); the loss is

  class_weight CE + recon_weight mean_i |x^_i - x_i|^2 + r1_weight R1
  + r2_weight R2,

the reconstruction error summed over pixels and averaged over images, R1
and R2 the means of `prototype_net.nearest_distances` over the batch.
"""

import optax
from jax import numpy as jnp

from train.data import elastic
from train.tasks import Task
from train.tasks.image_classification import init, prepare
from zoo.interp import prototype_net


def loss(model, variables, inputs, key):
  cfg = model.cfg
  images = inputs["image"]
  if cfg.elastic_alpha > 0:
    images = elastic.random_elastic(key, images, sigma=cfg.elastic_sigma,
                                    alpha=cfg.elastic_alpha)
  out = model.apply(variables, images)
  ce = jnp.mean(optax.softmax_cross_entropy_with_integer_labels(
      out["logits"], inputs["label"]))
  recon = jnp.mean(jnp.sum((out["recon"] - images) ** 2, axis=(1, 2)))
  to_input, to_prototype = prototype_net.nearest_distances(
      out["latent"], variables["params"]["prototypes"])
  r1, r2 = jnp.mean(to_input), jnp.mean(to_prototype)
  total = (cfg.class_weight * ce + cfg.recon_weight * recon
           + cfg.r1_weight * r1 + cfg.r2_weight * r2)
  accuracy = jnp.mean(jnp.argmax(out["logits"], -1) == inputs["label"])
  return total, ({"ce": ce, "recon": recon, "r1": r1, "r2": r2,
                  "accuracy": accuracy}, {})


TASK = Task(
    name="prototype_classification",
    features=("image", "label"),
    prepare=prepare,
    init=init,
    loss=loss,
)
