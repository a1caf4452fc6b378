"""Vec2Face's generator objective on `procedural_faces`: reconstruct an
image from its FR feature, under MAGE masking.

v = sqrt(D) normalize(FR(image)) with the FR network frozen; the output is
the generator's, masked by the step's key. Loss = L1 + (1 - SSIM) +
(1 - cos(FR(output), v)) (`zoo.arch.vec2face`; LPIPS and the PatchGAN
loss are off). The FR params sit in the model's params but get no
gradient, so the optimizer leaves them as loaded: from the FR run the
model config names (`Vec2FaceConfig.recognizer`), random where it names
none.
"""

import functools

import jax
from jax import numpy as jnp

from ops.losses import ssim
from train.store import faces, pretrained
from train.tasks import Task
from train.tasks.face_arcface import image_input
from zoo.arch import vec2face
from zoo.vision.faces import unit


def prepare(examples):
  return {"image": image_input(examples["image"])}


def _initialise(module, images):
  """Touches the generator and the FR network (not the yaw regressor)."""
  return module(vec2face.identity_vectors(module.features(images)))


@functools.lru_cache(maxsize=4)
def _recognizer(name: str) -> dict:
  return pretrained.off_trace(faces.recognizer_params, name)


def init(model, key, inputs):
  variables = model.init({"params": key}, inputs["image"],
                         method=_initialise)
  variables = {c: v for c, v in variables.items() if c != "intermediates"}
  name = model.cfg.recognizer
  if name:
    params = dict(variables["params"])
    params["recognizer"] = pretrained.filled(
        params["recognizer"], _recognizer(name), f"the FR network of {name}")
    variables = {**variables, "params": params}
  return variables


def reconstruction_terms(model, variables, images, key=None):
  """(l1, ssim, identity cos), each [B], of the generator's output from
  the FR features of `images`; masked when `key` is given."""
  params = dict(variables["params"])
  params["recognizer"] = jax.lax.stop_gradient(params["recognizer"])
  variables = {**variables, "params": params}
  v = jax.lax.stop_gradient(vec2face.identity_vectors(
      model.apply(variables, images, method="features")))
  output = model.apply(variables, v, key)
  fr = model.apply(variables, output, method="features")
  cos = jnp.sum(unit(fr) * unit(v), -1)
  return (jnp.mean(jnp.abs(output - images), axis=(1, 2, 3)),
          ssim(output, images), cos)


def loss(model, variables, inputs, key):
  l1, similarity, cos = reconstruction_terms(model, variables,
                                             inputs["image"], key)
  total = jnp.mean(l1 + (1 - similarity) + (1 - cos))
  return total, ({"l1": jnp.mean(l1), "ssim": jnp.mean(similarity),
                  "identity_cos": jnp.mean(cos)}, {})


TASK = Task(
    name="vec2face_generation",
    features=("image",),
    prepare=prepare,
    init=init,
    loss=loss,
)
