"""Vec2Face's claims: new identities from separated random vectors are
recognisable and separable, perturbations keep identity but vary the
image, and a gradient edit of the vector steers yaw.

Toy version on synthetic data (`procedural_faces`, 28x28 grey faces); the
claim is about the mechanism on synthetic data, not the paper's dataset
(HSFace, five real test sets). The FR network (ArcFace CNN, s 30, m 0.5,
64-d, 200 training identities), the yaw regressor (standing in for
6DRepNet) and the generator (trained to reconstruct images of the 200
training identities from their FR features, MAGE-masked) are the cached
runs of `train/configs/vec2face.py` (`train.store.faces`, trained once:
on an empty cache the check trains them, within its time).

Setting (fixed by the issue before any run; seed 0): 50 new identity
vectors, unit, pairwise cos < 0.3 (`sample_identities`); 10 samples each,
normalize(v + s z), z ~ N(0, I), s = 0.0775 for mean cos 0.85 with v
(`noise_scale`); images from the unmasked generator at sqrt(64) x the
vector. (1) FR TAR at FAR 1e-2 over all pairs of the 500 images >= 0.9;
beside it, the FR's TAR on 50 held-out real identities x 10 images (200-
249, never trained on). (2) Same-identity samples: mean pairwise FR cosine
>= 0.7 (baseline: the mean cosine across identities); mean pixel std
across an identity's samples > 0. (3) Edit, ours [recon] where the issue
is silent: from each of the 50 vectors v0 (unperturbed), a yaw target of
0.8 on the other side of the generated face's estimated yaw (-0.8 if it
is >= 0); Adam (lr 0.1) on v for 50 steps of 100 (1 - cos(FR(G(v)), v0))
+ |yaw(G(v)) - target| (summed over the 50 faces, so each gets its own
gradient); claims: the mean |yaw - target| falls by >= 30%, and the mean
cos(FR(G(v)), v0) after the edit is >= 0.6. Yaw is measured by the same
regressor the edit descends, as the paper measures with the 6DRepNet it
steers by: the pose claim checks that the vector can steer the generator
as the regressor sees it, not a ground-truth pose.

Measured (2026-12-06, 2 shared cores at load 9-12, from an empty model
cache: 13.4 min wall, 6.4 min of CPU, the three trainings included): (1)
passes, TAR 0.956 (the FR on held-out real faces: 0.731); (2) mean
same-identity FR cos 0.695 FAILS narrowly (across identities: 0.017); pixel
std 0.0098 > 0 passes; (3) the yaw error falls by 1.8% only (0.837 ->
0.822) and FAILS; identity cos after the edit 0.763 passes.
Diagnosis (measured afterwards on the same cached runs, settings
unchanged): (2) the perturbation itself leaves two samples of one
identity at a mean input cos of 0.724 (about 0.85^2), so a generator that
reproduced its input vector exactly in FR space would score 0.72: the
0.7 threshold sits just under that ceiling; our generator is not that
faithful (its images match their own input vectors at a mean FR cos of
0.56, while agreeing with each other at 0.695), which costs the last
0.03. (3) The toy's ArcFace features carry no yaw: a linear fit of
yaw from FR features of real faces has held-out R^2 = -0.07. The
generator, trained to reconstruct images from those features, cannot
know the pose and draws near-frontal faces (estimated yaw of its
reconstructions of held-out faces: std 0.05 against the real 0.56,
correlation -0.05; of the 50 new identities: mean -0.01, std 0.04). Yaw
can then only be reached by leaving the identity: the same 50 steps
without the identity term cut the yaw error by 63% (0.837 -> 0.312) but
drop the identity cos to 0.005; with the paper's weight 100 the identity
term dominates Adam's steps. The paper's FR (trained on real faces with
pose variation, 512-d) keeps pose information that its generator learns
to read; a yaw-invariant toy FR removes the handle the edit needs. We
report the values as measured; settings and thresholds were not changed
after the run.
"""

import math
import sys

import jax
import numpy as np
import optax
from jax import numpy as jnp

from eval.claims import measured
from train.data.builders import procedural_faces
from train.store import faces as store
from train.tasks.face_arcface import image_input
from zoo.arch import vec2face
from zoo.vision import faces

SEED = 0
NEW_IDENTITIES, SAMPLES, MAX_COS, MEAN_COS = 50, 10, 0.3, 0.85
FAR = 1e-2
EDIT_STEPS, EDIT_LR, IDENTITY_WEIGHT, TARGET_YAW = 50, 0.1, 100.0, 0.8


def _model():
  """The generator run's model with the yaw regressor's params added."""
  store.trained("fr")
  cfg, params = store.load("generator")
  _, yaw = store.load("yaw")
  return vec2face.build(cfg), {"params": {**params, "yaw_regressor":
                                          yaw["yaw_regressor"]}}


def edit(model, variables, v0: jax.Array, target: jax.Array
         ) -> jax.Array:
  """v0 [K, D] after `EDIT_STEPS` Adam steps on the edit loss."""
  tx = optax.adam(EDIT_LR)
  unit_v0 = faces.unit(v0)

  def objective(v):
    image = model.apply(variables, v)
    fr = model.apply(variables, image, method="features")
    cos = jnp.sum(faces.unit(fr) * unit_v0, -1)
    yaw = model.apply(variables, image, method="yaw")
    return jnp.sum(IDENTITY_WEIGHT * (1 - cos) + jnp.abs(yaw - target))

  @jax.jit
  def step(v, state):
    updates, state = tx.update(jax.grad(objective)(v), state, v)
    return optax.apply_updates(v, updates), state

  v, state = v0, tx.init(v0)
  for _ in range(EDIT_STEPS):
    v, state = step(v, state)
  return v


def check():
  model, variables = _model()
  generate = jax.jit(lambda v: model.apply(variables, v))
  features = jax.jit(lambda x: model.apply(variables, x, method="features"))
  yaw_of = jax.jit(lambda x: model.apply(variables, x, method="yaw"))
  held_out = procedural_faces.images(range(
      procedural_faces.NUM_TRAIN_IDENTITIES,
      procedural_faces.NUM_IDENTITIES), SAMPLES)
  real_tar = faces.tar_at_far(np.asarray(features(image_input(
      held_out["image"]))), held_out["identity"], FAR)

  rng = np.random.default_rng(SEED)
  dim = model.cfg.feature_dim
  identities = vec2face.sample_identities(rng, NEW_IDENTITIES, dim, MAX_COS)
  vectors = vec2face.perturb(rng, identities, SAMPLES,
                             vec2face.noise_scale(dim, MEAN_COS))
  images = generate(jnp.asarray(vectors.reshape(-1, dim) * math.sqrt(dim),
                                jnp.float32))
  fr = np.asarray(features(images))
  labels = np.repeat(np.arange(NEW_IDENTITIES), SAMPLES)
  tar = faces.tar_at_far(fr, labels, FAR)
  genuine, impostor = faces.pair_scores(fr, labels)
  pixel_std = float(np.asarray(images).reshape(
      NEW_IDENTITIES, SAMPLES, -1).std(axis=1).mean())

  v0 = jnp.asarray(identities * math.sqrt(dim), jnp.float32)
  yaw0 = yaw_of(generate(v0))
  target = jnp.where(yaw0 < 0, TARGET_YAW, -TARGET_YAW)
  v = edit(model, variables, v0, target)
  edited = generate(v)
  error0 = float(jnp.mean(jnp.abs(yaw0 - target)))
  error = float(jnp.mean(jnp.abs(yaw_of(edited) - target)))
  kept = float(jnp.mean(jnp.sum(faces.unit(features(edited))
                                * faces.unit(v0), -1)))
  print(f"vec2face: real TAR {real_tar:.4f}, new TAR {tar:.4f}, same-id cos "
        f"{genuine.mean():.4f} (across {impostor.mean():.4f}), pixel std "
        f"{pixel_std:.4f}, |yaw - target| {error0:.4f} -> {error:.4f}, "
        f"identity cos {kept:.4f}", file=sys.stderr)
  return [
      measured("vec2face",
               "50 new identities (pairwise cos < 0.3) x 10 perturbed "
               "samples: FR TAR >= 0.9 at FAR 1e-2 (baseline: the FR's TAR "
               "on 50 held-out real identities x 10)",
               "tar_at_far_1e-2", tar, real_tar, 0.9),
      measured("vec2face",
               "same-identity samples keep identity: mean pairwise FR cos "
               ">= 0.7 (baseline: mean cos across identities)",
               "same_identity_fr_cos", float(genuine.mean()),
               float(impostor.mean()), 0.7),
      measured("vec2face",
               "same-identity samples differ: mean pixel std across an "
               "identity's 10 samples > 0",
               "pixel_std", pixel_std, None, 0.0, strict=True),
      measured("vec2face",
               "50 Adam steps (lr 0.1) on v cut the mean |yaw - target| by "
               ">= 30% (baseline: the error before the edit)",
               "yaw_error_reduction", 1 - error / error0, error0, 0.3),
      measured("vec2face",
               "after the yaw edit, mean identity cos(FR(image), v0) >= 0.6",
               "edited_identity_cos", kept, None, 0.6),
  ]
