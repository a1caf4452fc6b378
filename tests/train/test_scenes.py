"""The procedural scene datasets: the 4x supersampled rasteriser,
`shape_scenes` (ids, labels and captions agree with what is drawn) and
`depth_scenes` (depth is the exact nearest hit of each pixel's ray)."""

import numpy as np
import pytest

from train.data.builders import depth_scenes, render, shape_scenes


def test_paint_is_the_mean_of_4x4_samples():
  # A square whose edges fall on pixel borders covers whole pixels only.
  image, ids = render.paint(16, np.zeros(3), [("square", 8, 8, 3,
                                               (1, 1, 1))])
  assert image.sum() == 3 * 36 and set(np.unique(image)) == {0.0, 1.0}
  np.testing.assert_array_equal(ids, image[..., 0])
  # Edges at a quarter pixel: the border pixels are 1/4 and 3/4 covered.
  image, _ = render.paint(16, np.zeros(3), [("square", 8, 8, 2.75,
                                             (1, 1, 1))])
  assert set(np.unique(image[..., 0])) == {0.0, 0.5625, 0.75, 1.0}
  np.testing.assert_allclose(image[..., 0].sum(), 5.5**2)
  # A disc: supersampled area within 1.5% of pi r^2.
  image, _ = render.paint(32, np.zeros(3), [("circle", 16.3, 15.8, 9.0,
                                             (1, 0, 0))])
  np.testing.assert_allclose(image[..., 0].sum(), np.pi * 81, rtol=0.015)
  with pytest.raises(ValueError, match="unknown shape kind 'star'"):
    render.inside("star", np.zeros(1), np.zeros(1), 0, 0, 1)


@pytest.mark.parametrize("index", [0, 7, 123, 3001])
def test_shape_scene_ids_labels_and_caption_agree_with_the_drawing(index):
  scene = shape_scenes.generate(index)
  again = shape_scenes.generate(index)
  for key, value in scene.items():
    np.testing.assert_array_equal(value, again[key])  # seeded
  present = scene["category"][scene["category"] >= 0]
  assert 1 <= len(present) <= 3
  np.testing.assert_array_equal(np.flatnonzero(scene["labels"]),
                                np.unique(present))
  ids = scene["panoptic"]
  assert ids.max() <= len(present)
  np.testing.assert_array_equal(
      scene["area"], [(ids == k + 1).sum() for k in range(3)])
  # Pixels whose whole 3x3 neighbourhood has one id are fully covered by
  # that shape: their colour is exactly its class's colour.
  colours = np.array(list(shape_scenes.COLOURS.values()))
  padded = np.pad(ids, 1, constant_values=-1)
  window = np.stack([padded[i:i + 32, j:j + 32] for i in range(3)
                     for j in range(3)])
  interior = np.all(window == ids, axis=0) & (ids > 0)
  expected = np.round(255 * colours[present[ids[interior] - 1] // 3])
  np.testing.assert_array_equal(scene["image"][interior], expected)
  names = [shape_scenes.class_name(c) for c in present]
  caption = scene["caption"]
  assert all(name in caption for name in names)
  assert scene["referring"] == "the " + names[scene["referred"]]
  words = {w for c in range(15) for w in shape_scenes.class_name(c).split()}
  words |= {"a", "and", "left", "right", "of", "above", "below"}
  assert set(caption.split()) <= words


def test_relation_is_that_of_the_larger_offset():
  assert shape_scenes.relation((2, 5), (10, 6)) == "left of"
  assert shape_scenes.relation((12, 5), (10, 6)) == "right of"
  assert shape_scenes.relation((10, 1), (11, 9)) == "above"
  assert shape_scenes.relation((10, 20), (11, 9)) == "below"


@pytest.mark.parametrize("index", [0, 5, 2100])
def test_depth_is_the_nearest_hit_of_each_pixel_ray(index):
  scene = depth_scenes.sample_scene(
      np.random.default_rng((depth_scenes.SEED, index)))
  d = depth_scenes.rays(*render.pixel_centres(32))
  depth, rgb = depth_scenes.trace(scene, d)
  np.testing.assert_array_equal(depth_scenes.generate(index)["depth"],
                                depth.astype(np.float32))
  origin = np.array([0.0, scene["height"], 0.0])
  point = origin + depth[..., None] * d
  # The hit lies on the floor, the wall or a sphere...
  on = [np.abs(point[..., 1]), np.abs(point[..., 2] - scene["wall"])]
  on += [np.abs(np.linalg.norm(point - c, axis=-1) - r)
         for c, r, _ in scene["spheres"]]
  assert np.all(np.min(on, axis=0) < 1e-6)
  # ...and nothing is hit before it (marching the ray at 1/64 steps).
  for s in np.linspace(0, 1, 65)[1:-1]:
    p = origin + s * depth[..., None] * d
    assert np.all(p[..., 1] > -1e-9) and np.all(p[..., 2] < scene["wall"])
    for c, r, _ in scene["spheres"]:
      assert np.all(np.linalg.norm(p - c, axis=-1) > r - 1e-9)
  assert depth.min() > 0.5 and depth.max() <= scene["wall"]
  assert 0 <= rgb.min() and rgb.max() <= 1


def test_a_floor_and_wall_scene_has_its_closed_form_depth():
  scene = {"height": 1.2, "wall": 7.0, "spheres": [], "floor": 0.5,
           "light": np.array([0.0, 1.0, 0.0]),
           "wall_albedo": np.full(3, 0.5)}
  x, y = render.pixel_centres(32)
  depth, _ = depth_scenes.trace(scene, depth_scenes.rays(x, y))
  below = y > 16
  floor = np.where(below, 1.2 * depth_scenes.FOCAL / np.where(
      below, y - 16, 1), np.inf)
  np.testing.assert_allclose(depth, np.minimum(floor, 7.0), rtol=1e-12)
