"""prototype_net: distances and both minimums against brute force, a
prototype set to an input's code zeroes its R1 term, gradients reach the
prototypes (each R1 minimum through its own nearest code only), logits
linear in D, the autoencoder's shapes, elastic deformation = scipy's, the
pixel k-NN = scikit-learn's, a smoke run, and bad input."""

import jax
import numpy as np
import pytest
from jax import numpy as jnp
from scipy import ndimage
from sklearn import neighbors

from train import config as config_lib
from train import loop
from train.data import elastic
from train.evaluators import prototype_net as evaluator
from train.tasks import prototype_classification as task
from zoo.errors import ConfigError
from zoo.interp import prototype_net as pn

CFG = pn.PrototypeNetConfig()


def _model(batch=6, seed=0):
  model = pn.PrototypeNet(CFG)
  images = jnp.asarray(np.random.default_rng(seed).random(
      (batch, 8, 8)), jnp.float32)
  variables = jax.jit(model.init)(jax.random.key(seed), images)
  return model, variables, images


def _brute_force(latent, prototypes):
  z, p = np.asarray(latent, np.float64), np.asarray(prototypes, np.float64)
  return ((z[:, None] - p[None]) ** 2).sum(-1)  # [B, m]


def test_distances_and_both_minimums_equal_brute_force():
  rng = np.random.default_rng(1)
  latent = jnp.asarray(rng.random((13, 40)), jnp.float32)
  prototypes = jnp.asarray(rng.random((15, 40)), jnp.float32)
  want = _brute_force(latent, prototypes)
  got = np.asarray(pn.squared_distances(latent, prototypes))
  assert got.shape == (13, 15) and got.min() >= 0
  np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
  to_input, to_prototype = jax.jit(pn.nearest_distances)(latent, prototypes)
  np.testing.assert_allclose(to_input, want.min(0), rtol=1e-5, atol=1e-5)
  np.testing.assert_allclose(to_prototype, want.min(1), rtol=1e-5,
                             atol=1e-5)


def test_logits_are_d_times_w_and_classes_are_the_most_negative_weight():
  model, variables, images = _model()
  out = jax.jit(model.apply)(variables, images)
  params = variables["params"]
  latent = jax.jit(lambda v, x: model.apply(v, x, method="encode"))(
      variables, images)
  np.testing.assert_allclose(out["latent"], latent, rtol=1e-6)
  np.testing.assert_allclose(
      out["distances"], _brute_force(latent, params["prototypes"]),
      rtol=1e-5, atol=1e-5)
  np.testing.assert_allclose(out["logits"],
                             out["distances"] @ params["last_layer"],
                             rtol=1e-5)
  w = np.asarray(params["last_layer"])
  np.testing.assert_array_equal(pn.prototype_classes(w), w.argmin(1))


def test_autoencoder_shapes_round_trip():
  model, variables, images = _model(batch=4)
  out = model.apply(variables, images)
  assert out["latent"].shape == (4, CFG.latent_dim) == (4, 40)
  assert out["recon"].shape == images.shape
  assert float(out["recon"].min()) > 0 and float(out["recon"].max()) < 1
  assert float(out["latent"].min()) >= 0  # ReLU codes, as the paper's
  decoded = model.apply(variables, method="decoded_prototypes")
  assert decoded.shape == (15, 8, 8)
  assert set(variables["params"]) == {
      "encoder_0", "encoder_1", "decoder_0", "decoder_1", "prototypes",
      "last_layer"}


def test_a_prototype_at_an_input_code_zeroes_its_r1_term():
  model, variables, images = _model()
  latent = jax.jit(lambda v, x: model.apply(v, x, method="encode"))(
      variables, images)
  prototypes = variables["params"]["prototypes"].at[4].set(latent[2])
  to_input, _ = jax.jit(pn.nearest_distances)(latent, prototypes)
  assert abs(float(to_input[4])) < 1e-5
  others = np.delete(np.asarray(to_input), 4)
  assert others.min() > 1e-2  # the others are uniform draws, far away


def test_gradients_reach_the_prototypes_through_the_nearest_pairs():
  rng = np.random.default_rng(2)
  latent = jnp.asarray(rng.random((9, 40)), jnp.float32)
  prototypes = jnp.asarray(rng.random((15, 40)), jnp.float32)
  r1 = lambda p: jnp.mean(pn.nearest_distances(latent, p)[0])
  r2 = lambda p: jnp.mean(pn.nearest_distances(latent, p)[1])
  d = _brute_force(latent, prototypes)
  nearest_input = np.asarray(latent)[d.argmin(0)]  # [m, d]
  np.testing.assert_allclose(
      jax.jit(jax.grad(r1))(prototypes),
      2.0 * (np.asarray(prototypes) - nearest_input) / 15, rtol=1e-4,
      atol=1e-6)
  g2 = np.asarray(jax.jit(jax.grad(r2))(prototypes))
  chosen = set(d.argmin(1).tolist())
  for j in range(15):
    assert (np.abs(g2[j]).max() > 0) == (j in chosen)
  # The whole loss moves every prototype (CE through D, R1 through the min).
  model, variables, images = _model()
  inputs = {"image": images, "label": jnp.arange(6, dtype=jnp.int32)}
  grads = jax.jit(jax.grad(lambda v: task.loss(
      model, v, inputs, jax.random.key(0))[0]))(variables)
  g = np.asarray(grads["params"]["prototypes"])
  assert np.isfinite(g).all() and (np.abs(g).max(axis=1) > 0).all()


@pytest.mark.parametrize("sigma,alpha", [(1.0, 2.0), (1.6, 5.0)])
def test_elastic_deformation_equals_scipy(sigma, alpha):
  rng = np.random.default_rng(3)
  images = rng.random((3, 8, 8)).astype(np.float32)
  noise = rng.uniform(-1, 1, (3, 2, 8, 8)).astype(np.float32)
  got = elastic.elastic_deform(jnp.asarray(images), jnp.asarray(noise),
                               sigma=sigma, alpha=alpha)
  rows, cols = np.mgrid[0:8, 0:8]
  for i in range(3):
    dy, dx = (alpha * ndimage.gaussian_filter(noise[i, a].astype(np.float64),
                                              sigma, mode="constant")
              for a in (0, 1))
    want = ndimage.map_coordinates(images[i].astype(np.float64),
                                   (rows + dy, cols + dx), order=1,
                                   mode="grid-constant")
    np.testing.assert_allclose(got[i], want, atol=1e-5)
  unmoved = elastic.elastic_deform(jnp.asarray(images), jnp.asarray(noise),
                                   sigma=sigma, alpha=0.0)
  np.testing.assert_allclose(unmoved, images, atol=1e-6)


def test_pixel_knn_equals_scikit_learn():
  rng = np.random.default_rng(4)
  reference = rng.random((200, 64))
  labels = rng.integers(0, 10, 200)
  queries = rng.random((30, 64))
  want = neighbors.KNeighborsClassifier(5).fit(reference, labels).predict(
      queries)
  np.testing.assert_array_equal(
      evaluator.knn_labels(queries, reference, labels, 5), want)


def test_smoke_config_trains_and_ablate_zeroes_r1_r2(tmp_path):
  cfg = config_lib.load_config("prototype_net.py:smoke")
  assert cfg.steps <= 50
  summary = loop.run(cfg, tmp_path / "run", devices=jax.devices()[:1])
  for key in ("train_ce", "train_r1", "train_r2", "accuracy",
              "reconstruction_error", "nearest_prototype_distance"):
    assert np.isfinite(summary[key])
  ablated = config_lib.load_config("prototype_net.py:ablate").model
  assert (ablated.r1_weight, ablated.r2_weight) == (0.0, 0.0)
  assert config_lib.load_config("prototype_net.py").model.r1_weight == 1.0


def test_bad_input_is_one_clear_error():
  model, variables, _ = _model()
  with pytest.raises(ValueError, match="images must be"):
    model.apply(variables, jnp.zeros((2, 8, 9)))
  with pytest.raises(ValueError, match="latent must be"):
    model.apply(variables, jnp.zeros((2, 39)), method="decode")
  with pytest.raises(ConfigError, match="image_size"):
    pn.PrototypeNetConfig(image_size=6)
  with pytest.raises(ConfigError, match="r1_weight"):
    pn.PrototypeNetConfig(r1_weight=-1.0)
  with pytest.raises(ValueError, match="noise"):
    elastic.elastic_deform(jnp.zeros((2, 8, 8)), jnp.zeros((2, 8, 8)),
                           sigma=1.0, alpha=2.0)
  with pytest.raises(ValueError, match="k must be"):
    evaluator.knn_labels(np.zeros((1, 4)), np.zeros((3, 4)), np.zeros(3), 4)
  with pytest.raises(ConfigError, match="steps"):
    config_lib.load_config("prototype_net.py:steps=-1")
