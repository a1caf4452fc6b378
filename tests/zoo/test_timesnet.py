"""timesnet (×Net): Re-Shape shapes, output size, the alpha = 0 switch, the
parameter surgery (bit-identical stages from a classifier checkpoint),
depth metrics, bad input and the smoke configs."""

import jax
import numpy as np
import pytest
from jax import numpy as jnp

from train import config as config_lib
from train import loop
from train.state import create_state, make_optimizer
from train.tasks import depth_regression
from zoo.arch import timesnet as tn
from zoo.errors import ConfigError
from zoo.layers import surgery

CFG = tn.TimesNetConfig()


def _image(rng, size, b=2):
  return rng.uniform(-0.5, 0.5, (b, size, size, 3)).astype(np.float32)


def _init(image):
  model = tn.TimesNet(CFG)
  variables = jax.jit(model.init)(jax.random.key(0), image)
  return model, {"params": variables["params"]}


def _decoder(model):
  """jitted (variables, features, image) -> depth."""
  return jax.jit(lambda v, f, x: model.apply(v, f, x, method="decode"))


def _features(model, variables, image):
  return jax.jit(lambda v, x: model.apply(v, x, method="features"))(
      variables, image)


@pytest.mark.parametrize("size", [32, 48, 64])
def test_reshape_gives_each_decoder_stage_its_input_and_output_is_input_size(
    size):
  model = tn.TimesNet(CFG)
  image = jax.ShapeDtypeStruct((2, size, size, 3), jnp.float32)
  variables = jax.eval_shape(model.init, jax.random.key(0), image)
  depth, state = jax.eval_shape(lambda v, x: model.apply(
      {"params": v["params"]}, x, mutable=["intermediates"]), variables,
                                image)
  assert depth.shape == (2, size, size)
  encoder = state["intermediates"]["encoder"]
  decoder = state["intermediates"]["decoder"]
  for k in range(4):
    (enc_in,), (dec_in,) = encoder[f"stage_{k}_input"], decoder[
        f"stage_{k}_input"]
    # The stage's pre-trained input width, at twice the resolution the
    # encoder feeds it (stride 2 then halves: each decoder stage is x2).
    side = 2 * size // 2**k
    assert dec_in.shape == (2, side, side, enc_in.shape[-1])
    assert enc_in.shape[-1] == CFG.stage_input_width(k)


def _with_alpha(params, value):
  decoder = {k: (jnp.full((), value) if k.startswith("alpha_") else v)
             for k, v in params["decoder"].items()}
  return {"params": {**params, "decoder": decoder}}


def test_alpha_zero_decoder_sees_only_the_encoder_features():
  rng = np.random.default_rng(1)
  image, other = _image(rng, 32), _image(rng, 32)
  model, variables = _init(image)
  features = _features(model, variables, image)
  decoder = _decoder(model)
  decode = lambda v, x: decoder(v, features, x)
  assert np.all(np.asarray(decode(variables, image)) > 0)  # softplus
  zero = _with_alpha(variables["params"], 0.0)
  np.testing.assert_array_equal(decode(zero, image), decode(zero, other))
  assert not np.allclose(decode(variables, image), decode(variables, other))
  # mixing off (the claim's alpha = 0 arm): no alpha and no mixing convs,
  # so the image has no path into the decoder; the rest is unchanged.
  off = jax.eval_shape(tn.TimesNet(tn.TimesNetConfig(input_mixing=False)).init,
                       jax.random.key(0), image)["params"]
  on = variables["params"]
  assert set(off["decoder"]) == {k for k in on["decoder"]
                                 if not k.startswith(("alpha_", "mix_"))}
  assert set(on["decoder"]) - set(off["decoder"]) == {
      f"{p}_{k}" for p in ("alpha", "mix") for k in range(4)}


def test_copy_subtrees_is_exact_and_refuses_a_mismatch():
  rng = np.random.default_rng(2)
  source = {"a": {"s0": {"w": rng.normal(size=(3, 4))},
                  "s1": {"w": rng.normal(size=(4, 5))}}}
  target = {"b": {"s0": {"w": np.zeros((3, 4))}, "s1": {"w": np.ones((4, 5))}},
            "c": np.arange(3)}
  pairs = surgery.reversed_stage_pairs(("a",), ("b",), 2, prefix="s")
  assert pairs == [(("a", "s1"), ("b", "s1")), (("a", "s0"), ("b", "s0"))]
  out = surgery.copy_subtrees(target, source, pairs)
  assert out["b"]["s0"]["w"] is source["a"]["s0"]["w"]
  assert out["c"] is target["c"] and target["b"]["s0"]["w"].sum() == 0
  with pytest.raises(ValueError, match="'a/s1' does not fit target 'b/s0'"):
    surgery.copy_subtrees(target, source, [(("a", "s1"), ("b", "s0"))])
  with pytest.raises(ValueError, match="source has no 'a/s9'"):
    surgery.copy_subtrees(target, source, [(("a", "s9"), ("b", "s0"))])


def test_depth_metrics_match_numpy_and_refuse_nonpositive_depth():
  rng = np.random.default_rng(3)
  target = rng.uniform(1, 10, (3, 8, 8))
  predicted = target * rng.uniform(0.6, 1.6, target.shape)
  m = tn.depth_metrics(predicted, target, np.array([1, 1, 0]))
  t, p = target[:2], predicted[:2]
  np.testing.assert_allclose(m["abs_rel"], np.mean(np.abs(p - t) / t),
                             rtol=1e-5)
  np.testing.assert_allclose(m["delta1"], np.mean(
      np.maximum(p / t, t / p) < 1.25), rtol=1e-6)
  bad = target.copy()
  bad[0, 0, 0] = 0.0
  with pytest.raises(ValueError, match="target depth must be > 0"):
    tn.depth_metrics(predicted, bad)


def test_bad_input_names_the_problem():
  model = tn.TimesNet(CFG)
  init = lambda shape: jax.eval_shape(model.init, jax.random.key(0),
                                      jnp.zeros(shape))
  with pytest.raises(ValueError, match="height 30 is not divisible by the "
                                       "total stride 16"):
    init((1, 30, 32, 3))
  with pytest.raises(ValueError, match="width 40 is not divisible"):
    init((1, 32, 40, 3))
  with pytest.raises(ValueError, match=r"image must be \[B, H, W, 3\]"):
    init((1, 32, 32))
  with pytest.raises(ConfigError, match="stage must be one of"):
    config_lib.load_config("timesnet.py:stage=segment")
  with pytest.raises(ConfigError, match="decoder_init must be"):
    config_lib.load_config("timesnet.py:decoder=frozen")


@pytest.fixture(scope="module")
def classifier_run(tmp_path_factory):
  cfg = config_lib.load_config("timesnet.py:smoke,stage=classify")
  assert cfg.steps <= 50
  workdir = tmp_path_factory.mktemp("timesnet") / "classifier"
  summary = loop.run(cfg, workdir, devices=jax.devices()[:1])
  assert summary["step"] == cfg.steps and 0.5 < summary["label_accuracy"]
  return workdir


def _step0_params(workdir):
  """The params a depth run from `workdir` starts with, made as the train
  loop makes them (the task's init, inside jit)."""
  cfg = config_lib.load_config(f"timesnet.py:smoke,pretrained={workdir}")
  model = tn.TimesNet(cfg.model)
  tx = make_optimizer(cfg.optim, cfg.steps)
  batch = {"image": np.zeros((2, 32, 32, 3), np.float32),
           "depth": np.ones((2, 32, 32), np.float32)}
  state = jax.jit(lambda: create_state(model, tx, batch, jax.random.key(0),
                                       depth_regression.TASK.init))()
  return state.params


def test_decoder_stages_are_the_checkpoints_at_step_0(classifier_run):
  _, saved, _ = loop.load(classifier_run, devices=jax.devices()[:1])
  saved = jax.device_get(saved.params)
  copied = jax.device_get(_step0_params(classifier_run))
  fresh = _init(np.zeros((1, 32, 32, 3), np.float32))[1]["params"]
  random = tn.transplant(tn.TimesNetConfig(decoder_init="random"), fresh,
                         saved)
  same = lambda a, b: all(jax.tree.leaves(jax.tree.map(np.array_equal, a,
                                                       b)))
  for k in range(4):
    stage = saved["encoder"][f"stage_{k}"]
    assert same(copied["encoder"][f"stage_{k}"], stage)
    assert same(copied["decoder"][f"stage_{k}"], stage)
    assert same(random["encoder"][f"stage_{k}"], stage)
    assert same(random["decoder"][f"stage_{k}"], fresh["decoder"][
        f"stage_{k}"])
    assert not same(random["decoder"][f"stage_{k}"], stage)


def test_depth_smoke_config_trains_from_the_classifier(classifier_run,
                                                       tmp_path):
  cfg = config_lib.load_config(f"timesnet.py:smoke,pretrained="
                               f"{classifier_run}")
  assert cfg.steps <= 50
  summary = loop.run(cfg, tmp_path / "depth", devices=jax.devices()[:1])
  assert np.isfinite(summary["train_loss"])
  assert 0 < summary["abs_rel"] < 1 and 0 <= summary["delta1"] <= 1
