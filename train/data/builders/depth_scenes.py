"""`depth_scenes`: ray-cast 32x32 RGB scenes with analytic depth.

Synthetic stand-in for NYU-Depth-v2 and KITTI (which cannot be had
offline): claims on it are about the mechanism on synthetic data.

Recipe: scene i is drawn by `numpy.random.default_rng((SEED, i))`. A
pinhole camera at (0, h, 0), h uniform in [1.0, 1.6], looks along +z
(y up) with a 60 degree field of view; the ray of image point (x, y)
(pixels, y down) is (0, h, 0) + t ((x - 16) / f, (16 - y) / f, 1), f =
16 / tan(30 deg), so t is the point's z-depth. The scene: the floor y = 0
(a unit checkerboard of albedos a and 0.7 a, a grey in [0.4, 0.9]), a back
wall z = D with D uniform in [6, 10] (albedo uniform in [0.2, 0.9]^3), and
1-3 spheres resting on the floor, radius uniform in [0.4, 1.0], centre z
uniform in [2.5, D - r - 0.2] and x uniform within +-0.5 tan(30 deg) z of
the axis, albedo uniform in [0.2, 1]^3. Lambertian shading under a
directional light from (lx, ly, lz) normalised, lx uniform in [-1, 1], ly
in [0.5, 1.5], lz in [-1, 0.2]: albedo (0.25 + 0.75 max(0, n . l)); no
shadows. Each pixel's RGB is the mean of 4 x 4 rays (`render`); `depth`
is the exact z-depth of the ray through the pixel centre, the nearest hit
among floor, wall and spheres.

Features: `image` [32, 32, 3] uint8, `depth` [32, 32] float32 (in scene
units, within [~1, 10]), `index`. Splits: scenes 0-1999 `train`,
2000-2399 `test`.
"""

import numpy as np
import tensorflow_datasets as tfds

from train.data.builders import render

SEED = 20250311
SIZE = 32
NUM_TRAIN, NUM_SCENES = 2000, 2400
HALF_FOV = np.radians(30.0)
FOCAL = SIZE / 2 / np.tan(HALF_FOV)
AMBIENT = 0.25


def rays(x: np.ndarray, y: np.ndarray) -> np.ndarray:
  """[..., 3] ray directions (z component 1) through image points."""
  half = SIZE / 2
  return np.stack([(x - half) / FOCAL, (half - y) / FOCAL,
                   np.ones_like(x)], axis=-1)


def sample_scene(rng: np.random.Generator) -> dict:
  """The random parameters of one scene (see the module docstring)."""
  height = rng.uniform(1.0, 1.6)
  wall = rng.uniform(6.0, 10.0)
  spheres = []
  for _ in range(int(rng.integers(1, 4))):
    r = rng.uniform(0.4, 1.0)
    z = rng.uniform(2.5, wall - r - 0.2)
    x = rng.uniform(-0.5, 0.5) * np.tan(HALF_FOV) * z
    spheres.append((np.array([x, r, z]), r, rng.uniform(0.2, 1.0, 3)))
  light = np.array([rng.uniform(-1, 1), rng.uniform(0.5, 1.5),
                    rng.uniform(-1, 0.2)])
  return {"height": height, "wall": wall, "spheres": spheres,
          "light": light / np.linalg.norm(light),
          "floor": rng.uniform(0.4, 0.9),
          "wall_albedo": rng.uniform(0.2, 0.9, 3)}


def trace(scene: dict, d: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
  """Depth [...] and shaded RGB [..., 3] of rays d [..., 3] from the
  camera."""
  origin = np.array([0.0, scene["height"], 0.0])
  inf = np.full(d.shape[:-1], np.inf)
  floor_t = np.where(d[..., 1] < 0, scene["height"] / -np.minimum(
      d[..., 1], -1e-12), inf)
  hits = [floor_t, np.full(d.shape[:-1], scene["wall"])]
  a = (d**2).sum(-1)
  for centre, r, _ in scene["spheres"]:
    oc = origin - centre
    b = 2 * (d * oc).sum(-1)
    disc = b**2 - 4 * a * ((oc**2).sum() - r**2)
    t = (-b - np.sqrt(np.maximum(disc, 0))) / (2 * a)
    hits.append(np.where((disc >= 0) & (t > 0), t, inf))
  hits = np.stack(hits)
  nearest = hits.argmin(0)
  depth = hits.min(0)
  point = origin + depth[..., None] * d
  normal = np.zeros_like(d)
  albedo = np.zeros_like(d)
  on_floor = nearest == 0
  checker = (np.floor(point[..., 0]) + np.floor(point[..., 2])) % 2
  normal[on_floor] = (0.0, 1.0, 0.0)
  albedo[on_floor] = (scene["floor"] * np.where(checker, 0.7, 1.0)[
      on_floor])[:, None]
  normal[nearest == 1] = (0.0, 0.0, -1.0)
  albedo[nearest == 1] = scene["wall_albedo"]
  for k, (centre, r, colour) in enumerate(scene["spheres"]):
    on = nearest == k + 2
    normal[on] = (point[on] - centre) / r
    albedo[on] = colour
  shade = AMBIENT + (1 - AMBIENT) * np.maximum(normal @ scene["light"], 0)
  return depth, albedo * shade[..., None]


def generate(index: int) -> dict:
  """Scene `index`: image [32, 32, 3] uint8 and depth [32, 32] float32."""
  scene = sample_scene(np.random.default_rng((SEED, index)))
  _, rgb = trace(scene, rays(*render.sample_grid(SIZE)))
  depth, _ = trace(scene, rays(*render.pixel_centres(SIZE)))
  image = np.clip(render.downsample(rgb), 0, 1)
  return {"image": np.round(image * 255).astype(np.uint8),
          "depth": depth.astype(np.float32), "index": index}


class DepthScenes(tfds.core.GeneratorBasedBuilder):
  """Floor, back wall and spheres, ray-cast, with exact depth maps."""

  VERSION = tfds.core.Version("1.0.0")
  RELEASE_NOTES = {"1.0.0": "Initial release."}

  def _info(self) -> tfds.core.DatasetInfo:
    return tfds.core.DatasetInfo(
        builder=self,
        description=__doc__,
        features=tfds.features.FeaturesDict({
            "image": tfds.features.Tensor(shape=(SIZE, SIZE, 3),
                                          dtype=np.uint8),
            "depth": tfds.features.Tensor(shape=(SIZE, SIZE),
                                          dtype=np.float32),
            "index": tfds.features.Scalar(dtype=np.int64),
        }),
        metadata=tfds.core.MetadataDict(seed=SEED),
    )

  def _split_generators(self, dl_manager):
    del dl_manager  # Procedural: nothing to read.
    return {"train": self._generate_examples(range(NUM_TRAIN)),
            "test": self._generate_examples(range(NUM_TRAIN, NUM_SCENES))}

  def _generate_examples(self, indices):
    for i in indices:
      yield i, generate(i)
