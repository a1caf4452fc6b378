"""The procedural `sprites` dataset: the factors are exactly what is drawn,
and QLAE's smoke config trains on it end to end."""

import jax
import numpy as np
import pytest

from train import config as config_lib
from train import loop
from train.data.builders import sprites


@pytest.fixture(scope="module")
def images():
  return np.stack([sprites.render(*f) for f in sprites.all_factors()])


def test_every_factor_combination_is_a_distinct_image(images):
  factors = sprites.all_factors()
  assert images.shape == (768, 32, 32) and factors.shape == (768, 4)
  assert len(np.unique(images.reshape(768, -1), axis=0)) == 768
  assert set(np.unique(images)) == {0.0, 1.0}
  index = ((factors[:, 0] * 4 + factors[:, 1]) * 8 + factors[:, 2]) * 8
  np.testing.assert_array_equal(index + factors[:, 3], np.arange(768))


def test_position_is_the_centre_and_size_grows_with_scale(images):
  factors = sprites.all_factors()
  rows, cols = np.meshgrid(np.arange(32) + 0.5, np.arange(32) + 0.5,
                           indexing="ij")
  area = images.sum((1, 2))
  for image, (shape, _, x, y), a in zip(images, factors, area):
    # Square and circle are symmetric about their centre, the triangle
    # left to right; centres fall between pixels, so within half a pixel.
    assert abs((image * cols).sum() / a - sprites.CENTRES[x]) <= 0.5
    if sprites.SHAPES[shape] != "triangle":
      assert abs((image * rows).sum() / a - sprites.CENTRES[y]) <= 0.5
  by_scale = area.reshape(3, 4, 64)
  assert np.all(np.diff(by_scale, axis=1) > 0)  # every shape and place
  # Never cropped: the canvas's border stays black.
  border = np.concatenate([images[:, [0, -1]].reshape(768, -1),
                           images[:, :, [0, -1]].reshape(768, -1)], 1)
  assert not border.any()


def test_splits_partition_the_images_reproducibly():
  a, b = sprites.split_indices(), sprites.split_indices()
  assert a == b
  assert len(a["test"]) == sprites.NUM_TEST
  assert sorted(a["train"] + a["test"]) == list(range(768))


def test_qlae_smoke_config_trains_and_reports_infomec(tmp_path):
  cfg = config_lib.load_config("qlae.py:smoke")
  assert cfg.steps <= 50
  summary = loop.run(cfg, tmp_path, devices=jax.devices()[:1])
  assert summary["step"] == cfg.steps
  for key in ("infom", "infoc", "infoe"):
    assert -0.05 <= summary[key] <= 1.0, (key, summary[key])
  assert 0 < summary["bce"] < 1
