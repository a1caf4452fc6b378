"""fmri_wave: the loss, network ablation, augmentations, frozen stand-ins,
causality of the fMRI encoder, the HRF against nilearn's, bad input and the
smoke run."""

import jax
import numpy as np
import pytest

from ops.losses import info_nce
from train import config as config_lib
from train import loop
from train.config import OptimConfig, TrainConfig
from train.data.builders import synthetic_fmri
from train.state import create_state, make_optimizer, train_step
from train.tasks import fmri_wave_clip
from zoo.arch import fmri_wave as fw

TINY = fw.FmriWaveConfig(width=16, depth=1, text_width=16, text_depth=1,
                         embed_dim=8, meta_hidden=8, standin_steps=1,
                         csm_steps=1)


def _batch(rng, b=6, t=10):
  return fmri_wave_clip.prepare({
      "bold": rng.normal(size=(b, t, 400)), "pixels": rng.uniform(
          size=(b, 8, 8)), "label": rng.integers(0, 10, b),
      "code": np.zeros((b, 32)), "image": np.arange(b)})


def test_loss_is_the_mean_of_two_symmetric_info_nce_terms():
  rng = np.random.default_rng(0)
  out = {k: rng.normal(size=(7, 8)) for k in ("fmri", "image", "text")}
  total, _ = fw.loss(out, 1.0, 2.0)
  expected = 0.5 * (info_nce(out["fmri"], out["image"], 1.0)
                    + info_nce(out["fmri"], out["text"], 2.0))
  np.testing.assert_allclose(total, expected, rtol=1e-6)
  swapped = {"fmri": out["image"], "image": out["fmri"], "text": out["text"]}
  image_term = fw.loss(swapped, 1.0, 2.0)[1]["nce_image"]
  np.testing.assert_allclose(image_term, fw.loss(out, 1.0, 2.0)[1][
      "nce_image"], rtol=1e-6)


@pytest.mark.parametrize("network", synthetic_fmri.NETWORKS)
def test_ablation_zeroes_exactly_that_network(network):
  bold = np.random.default_rng(1).normal(size=(3, 10, 400)) + 5.0
  out = synthetic_fmri.ablate(bold, network)
  parcels = synthetic_fmri.network_parcels(network)
  zeroed = np.all(out == 0, axis=(0, 1))
  np.testing.assert_array_equal(np.flatnonzero(zeroed), parcels)
  keep = np.setdiff1d(np.arange(400), parcels)
  np.testing.assert_array_equal(out[..., keep], bold[..., keep])


def test_networks_partition_the_parcels_and_unknown_names_are_listed():
  everything = np.concatenate([synthetic_fmri.network_parcels(n)
                               for n in synthetic_fmri.NETWORKS])
  np.testing.assert_array_equal(everything, np.arange(400))
  with pytest.raises(ValueError, match="unknown network 'DMN'; valid "
                                       "networks: Visual, .*Default"):
    synthetic_fmri.ablate(np.zeros((1, 10, 400)), "DMN")


def test_parcel_masking_zeroes_a_fifth_of_the_parcels_on_every_tr():
  bold = (np.random.default_rng(2).normal(size=(4, 10, 400)) + 3.0).astype(
      np.float32)
  out, masked = fw.mask_parcels(jax.random.key(0), bold, 0.2)
  out, masked = np.asarray(out), np.asarray(masked)
  np.testing.assert_array_equal(masked.sum(1), 80)
  np.testing.assert_array_equal(np.all(out == 0, axis=1), masked)
  np.testing.assert_array_equal(np.where(masked[:, None], bold, out), bold)


def test_permutation_touches_only_the_first_five_trs():
  bold = np.random.default_rng(3).normal(size=(8, 10, 400)).astype(
      np.float32)
  out = np.asarray(fw.permute_first_trs(jax.random.key(1), bold, 5))
  np.testing.assert_array_equal(out[:, 5:], bold[:, 5:])
  for b in range(8):
    order = [int(np.flatnonzero(np.all(bold[b, :5] == row, axis=1))[0])
             for row in out[b, :5]]
    assert sorted(order) == list(range(5))
  assert not np.array_equal(out, bold)


def test_fmri_encoder_is_causal_over_trs():
  rng = np.random.default_rng(4)
  model = fw.FmriWave(TINY)
  inputs = _batch(rng)
  args = [inputs[k] for k in ("bold", "times", "valid", "pixels", "label")]
  variables = model.init(jax.random.key(0), *args)
  _, before = model.apply(variables, *args[:3], method="encode_fmri")
  changed = inputs["bold"].copy()
  changed[:, 6:] = rng.normal(size=changed[:, 6:].shape)
  _, after = model.apply(variables, changed, *args[1:3], method="encode_fmri")
  np.testing.assert_allclose(after[:, :6], before[:, :6], rtol=1e-5,
                             atol=1e-6)
  assert not np.allclose(after[:, 6:], before[:, 6:])


def test_frozen_encoders_unchanged_after_a_step():
  cfg = TrainConfig(system="fmri_wave", model=TINY,
                    optim=OptimConfig(learning_rate=1e-2))
  model = fw.FmriWave(TINY)
  tx = make_optimizer(cfg.optim, cfg.steps)
  inputs = _batch(np.random.default_rng(5))
  state = jax.jit(lambda: create_state(
      model, tx, inputs, jax.random.key(0), fmri_wave_clip.init))()
  new, _ = train_step(state, inputs, model=model, tx=tx,
                      loss_fn=fmri_wave_clip.loss, cfg=cfg)
  for name in fw.FROZEN:
    for a, b in zip(jax.tree.leaves(state.params[name]),
                    jax.tree.leaves(new.params[name])):
      np.testing.assert_array_equal(a, b)
  moved = [not np.array_equal(a, b) for a, b in zip(
      jax.tree.leaves(state.params["fmri_encoder"]),
      jax.tree.leaves(new.params["fmri_encoder"]))]
  assert any(moved)
  # The stand-ins are the pre-trained ones.
  trained = fmri_wave_clip.pretrained(TINY)
  for a, b in zip(jax.tree.leaves(trained["image_encoder"]),
                  jax.tree.leaves(state.params["image_encoder"])):
    np.testing.assert_array_equal(a, b)


def test_hrf_matches_nilearns_spm_hrf():
  hemodynamic = pytest.importorskip(
      "nilearn.glm.first_level.hemodynamic_models")
  theirs = hemodynamic.spm_hrf(2.0, oversampling=20, time_length=32.0,
                               onset=0.0)
  # nilearn samples 320 points on [0, 32] s and shifts them by one step
  # (its gamma's loc is dt = 0.1 s).
  times = np.linspace(0, 32, len(theirs)) - 0.1
  np.testing.assert_allclose(synthetic_fmri.hrf(times), theirs / theirs.max(),
                             atol=1e-3)


def test_bad_input_names_the_problem():
  rng = np.random.default_rng(6)
  model = fw.FmriWave(TINY)
  inputs = _batch(rng)
  args = [inputs[k] for k in ("bold", "times", "valid", "pixels", "label")]
  variables = model.init(jax.random.key(0), *args)
  with pytest.raises(ValueError, match="bold must be"):
    model.apply(variables, args[0][..., :300], *args[1:])
  with pytest.raises(ValueError, match="label 12 is not a digit"):
    model.apply(variables, *args[:4], np.full(6, 12))


def test_smoke_config_trains(tmp_path):
  cfg = config_lib.load_config("fmri_wave.py:smoke",
                               [f"data.data_dir={tmp_path}"])
  summary = loop.run(cfg, tmp_path / "run", devices=jax.devices()[:1])
  assert np.isfinite(summary["train_loss"])
  assert 0 <= summary["top1"] <= 1
