"""vec2face's training side: `procedural_faces` (seeded, identity factors
shared by an identity's images, yaw moves the face), the generator's
smoke config with a smoke FR run (the FR network is loaded and stays
frozen), and bad input refused in one line before anything is written."""

import jax
import numpy as np
import pytest

from tests.train import run_files
from train import config as config_lib
from train import loop
from train.data.builders import procedural_faces as pf
from train.data.builders import render
from zoo.errors import ConfigError


def test_faces_are_seeded_and_share_their_identity():
  a, b = pf.generate(7, 3), pf.generate(7, 3)
  for key in a:
    np.testing.assert_array_equal(a[key], b[key])
  assert a["identity"] == 7 and a["index"] == 7 * 20 + 3
  assert a["image"].shape == (28, 28, 1) and a["image"].dtype == np.uint8
  for k in (0, 199, 249):
    face = pf.identity(k)
    for name, (low, high) in pf.IDENTITY_RANGES.items():
      assert low <= face[name] <= high
  assert pf.identity(3) != pf.identity(4)
  assert not np.array_equal(pf.generate(7, 3)["image"],
                            pf.generate(7, 4)["image"])


def test_yaw_moves_the_features_and_eye_spacing_separates_the_eyes():
  x, y = render.pixel_centres(28)
  face = pf.identity(0)
  draw = lambda yaw, **f: pf.draw({**face, **f}, yaw, 0.0, 0.0, 0.2, x, y)
  centre = [x[draw(yaw) < 0.15].mean() for yaw in (-0.8, 0.0, 0.8)]
  assert centre[0] < centre[1] - 1 and centre[1] < centre[2] - 1
  eye_row = np.round(pf.CENTRE[1] - 0.25 * 8.5 * face["aspect"] - 0.5)
  width = lambda spacing: np.ptp(np.flatnonzero(
      draw(0.0, eye_spacing=spacing)[int(eye_row)] < 0.15))
  assert width(9.0) > width(5.0) + 3


@pytest.fixture(scope="module")
def recognizer_run(tmp_path_factory):
  cfg = config_lib.load_config("vec2face.py:smoke,stage=fr")
  assert cfg.steps <= 50
  workdir = tmp_path_factory.mktemp("vec2face") / "fr"
  loop.run(cfg, workdir, devices=jax.devices()[:1])
  return workdir


def test_generator_smoke_trains_with_a_frozen_loaded_recognizer(
    recognizer_run, tmp_path):
  cfg = config_lib.load_config(f"vec2face.py:smoke,recognizer="
                               f"{recognizer_run}")
  assert cfg.steps <= 50 and cfg.model.recognizer == str(recognizer_run)
  summary = loop.run(cfg, tmp_path / "g", devices=jax.devices()[:1])
  for key in ("train_loss", "l1", "ssim", "identity_cos"):
    assert np.isfinite(summary[key]), key
  _, fr, _ = loop.load(recognizer_run, devices=jax.devices()[:1])
  _, generator, _ = loop.load(tmp_path / "g", devices=jax.devices()[:1])
  same = jax.tree.map(np.array_equal, jax.device_get(
      fr.params["recognizer"]), jax.device_get(
          generator.params["recognizer"]))
  assert all(jax.tree.leaves(same))


@pytest.mark.parametrize("arg,message", [
    ("stage=discriminator", "stage must be one of"),
    ("stage=fr,recognizer=x", "recognizer= is for stage=generator"),
    ("steps=-1", "steps must be >= 1"),
])
def test_bad_flags_are_refused(arg, message):
  with pytest.raises(ConfigError, match=message):
    config_lib.load_config(f"vec2face.py:{arg}")


def test_an_image_size_off_the_stride_is_one_line(tmp_path, capsys):
  workdir = tmp_path / "w"
  code, _, err = run_files.train_in_process(
      capsys, "--config", "vec2face.py:smoke", "--workdir", str(workdir),
      "--set", "model.image_size=30")
  assert "image size 30 must be the token grid 7 times" in (
      run_files.error_line(code, err))
  assert not workdir.exists()
