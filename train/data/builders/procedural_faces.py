"""`procedural_faces`: 28x28 grey faces of 250 identities, 20 images each,
with known identity and yaw.

Synthetic stand-in for face datasets (CASIA-WebFace, LFW: not available
offline); claims on it are about the mechanism on synthetic data, not the
paper's datasets.

Recipe: identity k is drawn by `numpy.random.default_rng((SEED, k))`: head
aspect (height / width) uniform in [1.05, 1.5], eye spacing in [5, 9]
pixels, eye radius in [0.9, 2.0], nose length in [2, 6], mouth width in
[3, 9], brow tilt in [-0.5, 0.5] rad (the inner ends up for positive
tilt). Image j of identity k is drawn by `default_rng((SEED, k, j))`: yaw
uniform in [-1, 1] (the head turned by yaw x 35 degrees), a horizontal
light gradient in [-0.5, 0.5] (face brightness 0.7 (1 + g x / half
width)), a mouth curve in [-1, 1] (a smile for positive values), a
background grey in [0.05, 0.3]; Gaussian pixel noise (std 0.03) is added
after drawing, then values are clipped to [0, 1].

Geometry (pixels, y down): the head is an ellipse of half-width 8.5 and
half-height 8.5 x aspect (at most 12.75) centred at (14, 14.5). Turning
moves a face point at depth z (eyes 0.75, brows 0.8, mouth 0.85, nose tip
1.3, in half-widths) to x = 14 + x0 cos(phi) + 8.5 z sin(phi); the head
outline shifts by 8.5 x 0.25 sin(phi). Eyes are discs at height -0.25 h,
brows 2-pixel-thick segments 2.2 radii above them, the nose a 1.2-pixel
line from the eyes' height downwards (its tip at depth 1.3), the mouth a
1.2-pixel parabola at 0.45 h. Each pixel is the mean of 4 x 4 samples
(`render`).

Features: `image` [28, 28, 1] uint8, `identity` int64 in [0, 250), `yaw`
float32 in [-1, 1], `index`. Splits: identities 0-199 `train` (4,000
images), 200-249 `test` (1,000: identities never trained on).
"""

import numpy as np
import tensorflow_datasets as tfds

from train.data.builders import render

SEED = 20250312
SIZE = 28
NUM_IDENTITIES, NUM_TRAIN_IDENTITIES, IMAGES_PER_IDENTITY = 250, 200, 20
MAX_TURN = np.radians(35.0)
HALF_WIDTH, CENTRE = 8.5, (14.0, 14.5)
NOISE = 0.03
IDENTITY_RANGES = {"aspect": (1.05, 1.5), "eye_spacing": (5.0, 9.0),
                   "eye_size": (0.9, 2.0), "nose_length": (2.0, 6.0),
                   "mouth_width": (3.0, 9.0), "brow_tilt": (-0.5, 0.5)}
DEPTH = {"eyes": 0.75, "brows": 0.8, "mouth": 0.85, "nose": 1.3}


def identity(k: int) -> dict[str, float]:
  """The identity parameters of identity `k` (see the module docstring)."""
  rng = np.random.default_rng((SEED, k))
  return {name: float(rng.uniform(*bounds))
          for name, bounds in IDENTITY_RANGES.items()}


def _segment(x, y, a, b, half_thickness):
  """Whether points lie within `half_thickness` of the segment a-b."""
  (ax, ay), (bx, by) = a, b
  dx, dy = bx - ax, by - ay
  t = np.clip(((x - ax) * dx + (y - ay) * dy) / (dx * dx + dy * dy), 0, 1)
  return np.hypot(x - ax - t * dx, y - ay - t * dy) <= half_thickness


def draw(face: dict[str, float], yaw: float, light: float, curve: float,
         background: float, x: np.ndarray, y: np.ndarray) -> np.ndarray:
  """Grey values at sample points (x, y) of a face, noise-free."""
  phi = yaw * MAX_TURN
  cx, cy = CENTRE
  half_height = HALF_WIDTH * face["aspect"]
  turned = lambda x0, depth: cx + x0 * np.cos(phi) + (
      HALF_WIDTH * depth * np.sin(phi))
  head_x = cx + HALF_WIDTH * 0.25 * np.sin(phi)
  canvas = np.full(x.shape, background)
  head = ((x - head_x) / HALF_WIDTH)**2 + ((y - cy) / half_height)**2 <= 1
  canvas[head] = np.clip(0.7 * (1 + light * (x[head] - head_x) / HALF_WIDTH),
                         0, 1)
  dark = 0.12
  eye_y = cy - 0.25 * half_height
  r = face["eye_size"]
  for side in (-1, 1):
    ex = turned(side * face["eye_spacing"] / 2, DEPTH["eyes"])
    canvas[(x - ex)**2 + (y - eye_y)**2 <= r**2] = dark
    bx = turned(side * face["eye_spacing"] / 2, DEPTH["brows"])
    by = eye_y - 2.2 * r
    # Positive tilt raises the inner end (towards the nose).
    dy = 1.6 * np.sin(face["brow_tilt"])
    canvas[_segment(x, y, (bx - side * 1.6 * np.cos(phi), by - dy),
                    (bx + side * 1.6 * np.cos(phi), by + dy), 1.0)] = dark
  nose_top = (turned(0.0, DEPTH["eyes"]), eye_y)
  nose_tip = (turned(0.0, DEPTH["nose"]), eye_y + face["nose_length"])
  canvas[_segment(x, y, nose_top, nose_tip, 0.6)] = dark
  mouth_x, mouth_y = turned(0.0, DEPTH["mouth"]), cy + 0.45 * half_height
  half_mouth = face["mouth_width"] / 2 * np.cos(phi)
  u = (x - mouth_x) / half_mouth
  on_mouth = (np.abs(u) <= 1) & (np.abs(y - (mouth_y - 1.5 * curve * (
      1 - u**2) + 0.75 * curve)) <= 0.6)
  canvas[on_mouth] = dark
  return canvas


def generate(k: int, j: int) -> dict:
  """Image j of identity k (see the module docstring)."""
  rng = np.random.default_rng((SEED, k, j))
  yaw, light, curve = rng.uniform(-1, 1), rng.uniform(-0.5, 0.5), (
      rng.uniform(-1, 1))
  background = rng.uniform(0.05, 0.3)
  samples = draw(identity(k), yaw, light, curve, background,
                 *render.sample_grid(SIZE))
  image = render.downsample(samples) + rng.normal(0, NOISE, (SIZE, SIZE))
  image = np.clip(image, 0, 1)[..., None]
  return {"image": np.round(image * 255).astype(np.uint8), "identity": k,
          "yaw": np.float32(yaw), "index": k * IMAGES_PER_IDENTITY + j}


def images(identities, per_identity: int = IMAGES_PER_IDENTITY
           ) -> dict[str, np.ndarray]:
  """The first `per_identity` images of each identity, stacked."""
  faces = [generate(k, j) for k in identities for j in range(per_identity)]
  return {f: np.stack([face[f] for face in faces]) for f in faces[0]}


class ProceduralFaces(tfds.core.GeneratorBasedBuilder):
  """Procedural grey faces with known identity factors and yaw."""

  VERSION = tfds.core.Version("1.0.0")
  RELEASE_NOTES = {"1.0.0": "Initial release."}

  def _info(self) -> tfds.core.DatasetInfo:
    return tfds.core.DatasetInfo(
        builder=self,
        description=__doc__,
        features=tfds.features.FeaturesDict({
            "image": tfds.features.Tensor(shape=(SIZE, SIZE, 1),
                                          dtype=np.uint8),
            "identity": tfds.features.Scalar(dtype=np.int64),
            "yaw": tfds.features.Scalar(dtype=np.float32),
            "index": tfds.features.Scalar(dtype=np.int64),
        }),
        metadata=tfds.core.MetadataDict(seed=SEED),
    )

  def _split_generators(self, dl_manager):
    del dl_manager  # Procedural: nothing to read.
    return {"train": self._generate_examples(range(NUM_TRAIN_IDENTITIES)),
            "test": self._generate_examples(range(NUM_TRAIN_IDENTITIES,
                                                  NUM_IDENTITIES))}

  def _generate_examples(self, identities):
    for k in identities:
      for j in range(IMAGES_PER_IDENTITY):
        face = generate(k, j)
        yield face["index"], face
