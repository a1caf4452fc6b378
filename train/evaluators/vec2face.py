"""Vec2Face's parts on held-out faces (`procedural_faces` test split:
identities never trained on). FR runs (batches with `identity`): TAR at
FAR 1e-2 over all pairs; yaw runs (`yaw`): mean absolute error;
generator runs: L1, SSIM and identity cosine of the deterministic
(unmasked) reconstructions. Padding rows are left out."""

import functools

import jax
import numpy as np

from train.tasks import vec2face_generation
from zoo.vision import faces

FAR = 1e-2


@functools.partial(jax.jit, static_argnums=0)
def _features(model, variables, images):
  return model.apply(variables, images, method="features")


@functools.partial(jax.jit, static_argnums=0)
def _yaw(model, variables, images):
  return model.apply(variables, images, method="yaw")


@functools.partial(jax.jit, static_argnums=0)
def _reconstruction(model, variables, images):
  return vec2face_generation.reconstruction_terms(model, variables, images)


def evaluate(model, variables, batches, workdir=None) -> dict[str, float]:
  """FR: tar_at_far_1e-2; yaw: yaw_mae; generator: l1, ssim,
  identity_cos."""
  del workdir  # no plots
  rows: dict[str, list[np.ndarray]] = {}
  for batch in batches:
    valid = np.asarray(batch["mask"], bool)
    if "identity" in batch:
      out = {"features": _features(model, variables, batch["image"]),
             "identity": batch["identity"]}
    elif "yaw" in batch:
      out = {"yaw_error": np.abs(np.asarray(_yaw(
          model, variables, batch["image"])) - np.asarray(batch["yaw"]))}
    else:
      out = dict(zip(("l1", "ssim", "identity_cos"), _reconstruction(
          model, variables, batch["image"])))
    for k, v in out.items():
      rows.setdefault(k, []).append(np.asarray(v)[valid])
  values = {k: np.concatenate(v) for k, v in rows.items()}
  if "features" in values:
    return {"tar_at_far_1e-2": faces.tar_at_far(
        values["features"], values["identity"], FAR)}
  if "yaw_error" in values:
    return {"yaw_mae": float(values["yaw_error"].mean())}
  return {k: float(v.mean()) for k, v in values.items()}
