"""meg_decoder: spatial attention, subject layer, dilated convs, the loss,
the simulator's exact inverse, bad input, the .fif format and the smoke run."""

import dataclasses

import jax
import numpy as np
import pytest
from jax import numpy as jnp

from ops.losses import info_nce
from train import config as config_lib
from train import loop
from train.data import encoding_model
from train.data.builders import synthetic_meg
from train.evaluators import code_retrieval
from train.tasks import meg_clip_mse
from zoo.arch import meg_decoder as md

# A small model: shapes as the real one's, fewer sensors and times.
CFG = md.MegDecoderConfig(num_sensors=30, num_times=24, merger_channels=8,
                          hidden=8, head_hidden=16, num_blocks=2)


def _inputs(rng, b=5, cfg=CFG):
  meg = rng.normal(size=(b, cfg.num_sensors, cfg.num_times)).astype(
      np.float32)
  positions = rng.uniform(size=(b, cfg.num_sensors, 2)).astype(np.float32)
  present = rng.uniform(size=(b, cfg.num_sensors)) < 0.6
  present[:, 0] = True
  subject = rng.integers(0, cfg.num_subjects, b).astype(np.int32)
  return meg, subject, positions, present


def _init(inputs, cfg=CFG):
  model = md.MegDecoder(cfg)
  return model, model.init(jax.random.key(0), *inputs)


def test_spatial_weights_sum_to_one_over_present_sensors_zero_elsewhere():
  inputs = _inputs(np.random.default_rng(0))
  model, variables = _init(inputs)
  _, state = model.apply(variables, *inputs, mutable=["intermediates"])
  (weights,) = state["intermediates"]["SpatialAttention_0"][
      "spatial_weights"]  # [B, O, C]
  present = inputs[3]
  np.testing.assert_allclose(weights.sum(-1), 1.0, rtol=1e-5)
  assert np.all(np.asarray(weights)[~np.broadcast_to(
      present[:, None], weights.shape)] == 0)
  assert np.all(np.asarray(weights)[np.broadcast_to(
      present[:, None], weights.shape)] > 0)


def test_absent_sensors_do_not_change_the_output():
  rng = np.random.default_rng(1)
  meg, subject, positions, present = _inputs(rng)
  model, variables = _init((meg, subject, positions, present))
  noisy = np.where(present[..., None], meg, rng.normal(size=meg.shape) * 50)
  a = model.apply(variables, meg, subject, positions, present)
  b = model.apply(variables, noisy.astype(np.float32), subject, positions,
                  present)
  np.testing.assert_allclose(a["clip"], b["clip"], rtol=1e-5, atol=1e-6)


def test_radius_dropout_only_drops_present_sensors_and_never_all():
  rng = np.random.default_rng(2)
  _, _, positions, present = _inputs(rng, b=64)
  kept = md.radius_dropout(jax.random.key(3), positions, present, 0.5)
  assert not np.any(np.asarray(kept) & ~present)
  assert np.all(np.asarray(kept).any(1))
  assert np.asarray(kept).sum() < present.sum()
  # Sensors all at one point: any radius drops them all, so the row stays.
  same = md.radius_dropout(jax.random.key(3), np.zeros_like(positions),
                           present, 0.5)
  np.testing.assert_array_equal(same, present)


def test_subject_layer_is_the_subjects_matrix():
  rng = np.random.default_rng(4)
  layer = md.SubjectLayer(num_subjects=3)
  x = rng.normal(size=(6, 5, 4)).astype(np.float32)
  subject = np.array([0, 1, 2, 2, 1, 0])
  variables = layer.init(jax.random.key(0), x, subject)
  np.testing.assert_allclose(layer.apply(variables, x, subject), x)  # eye
  weights = rng.normal(size=(3, 4, 4)).astype(np.float32)
  out = layer.apply({"params": {"weights": weights}}, x, subject)
  for b in range(6):
    np.testing.assert_allclose(out[b], x[b] @ weights[subject[b]].T,
                               rtol=1e-5, atol=1e-6)
  other = layer.apply({"params": {"weights": weights}}, x, (subject + 1) % 3)
  assert not np.allclose(out, other)


@pytest.mark.parametrize("length", [60, 37, 5])
def test_dilated_conv_block_keeps_length(length):
  block = md.ConvBlock(width=6, dilations=(16, 2))
  x = jnp.ones((2, length, 6))
  variables = block.init(jax.random.key(0), x, train=False)
  assert block.apply(variables, x, train=False).shape == (2, length, 6)


def test_loss_endpoints_are_info_nce_and_mse():
  rng = np.random.default_rng(5)
  outputs = {"clip": rng.normal(size=(8, 32)), "mse": rng.normal(size=(8, 32))}
  code = rng.normal(size=(8, 32))
  nce = info_nce(outputs["clip"], code, 2.0, symmetric=False)
  mse = np.mean((outputs["mse"] - code) ** 2)
  one, _ = md.loss(dataclasses.replace(CFG, clip_weight=1.0), outputs, code,
                   2.0)
  zero, _ = md.loss(dataclasses.replace(CFG, clip_weight=0.0), outputs, code,
                    2.0)
  np.testing.assert_allclose(one, nce, rtol=1e-6)
  np.testing.assert_allclose(zero, mse, rtol=1e-6)


def test_noiseless_data_through_the_true_inverse_retrieves_every_image():
  sim = synthetic_meg.simulator()
  digits = encoding_model.load_digits()
  rows = synthetic_meg.retrieval_images()
  codes = encoding_model.fit().code(digits.images[rows], digits.labels[rows])
  subjects = np.arange(len(rows)) % 4
  decoded = sim.invert(sim.evoked(codes, subjects), subjects)
  m = code_retrieval.metrics(decoded, codes, np.arange(len(rows)))
  assert m["top1"] == 1.0
  np.testing.assert_allclose(decoded, codes, atol=1e-6)


def test_bad_input_names_the_problem():
  rng = np.random.default_rng(6)
  meg, subject, positions, present = _inputs(rng)
  model, variables = _init((meg, subject, positions, present))
  dropped = present.copy()
  dropped[2] = False
  with pytest.raises(ValueError, match="every sensor is dropped in row 2"):
    model.apply(variables, meg, subject, positions, dropped)
  with pytest.raises(ValueError, match="unknown subject id 7; valid ids: "
                                       "0, 1, 2, 3"):
    model.apply(variables, meg, np.full_like(subject, 7), positions, present)
  with pytest.raises(ValueError, match="unknown subject id -1"):
    synthetic_meg.simulator().evoked(np.zeros((1, 32)), np.array([-1]))
  with pytest.raises(ValueError, match="meg must have shape"):
    model.apply(variables, meg[:, :-1], subject, positions, present)


def test_layout_is_272_ctf_sensors_in_the_unit_square():
  names, xy = synthetic_meg.sensor_layout()
  assert len(names) == 272 == len(set(names)) and xy.shape == (272, 2)
  assert xy.min() >= 0 and xy.max() <= 1 and names[0] == "MLC11"


def test_epochs_round_trip_through_fif(tmp_path):
  mne = pytest.importorskip("mne")
  meg = np.random.default_rng(7).normal(size=(3, 272, 60)).astype(np.float32)
  epochs = synthetic_meg.to_epochs(meg)
  epochs.save(tmp_path / "x-epo.fif", verbose="error")
  back = mne.read_epochs(tmp_path / "x-epo.fif", verbose="error")
  np.testing.assert_allclose(back.get_data(), meg, rtol=1e-6)
  assert back.ch_names[:2] == ["MLC11", "MLC12"] and back.info["sfreq"] == 60
  np.testing.assert_allclose(back.times[0], -0.2)


def test_smoke_config_trains_and_retrieves(tmp_path):
  cfg = config_lib.load_config("meg_decoder.py:smoke",
                               [f"data.data_dir={tmp_path}"])
  summary = loop.run(cfg, tmp_path / "run", devices=jax.devices()[:1])
  assert np.isfinite(summary["train_loss"])
  assert summary["chance_top5"] == 0.05 and 0 <= summary["top5"] <= 1
  with pytest.raises(ValueError, match="unknown subject id 4"):
    meg_clip_mse.prepare({"meg": np.zeros((1, 272, 60)), "subject": [4],
                          "code": np.zeros((1, 32)), "image": [0]})
