"""Learn2PD's filter: features, BCE against a brute-force value, fitting."""

import jax
import numpy as np
from jax import numpy as jnp

from ops.decoding.learn2pd import Filter, FilterData, bce_loss, features
from zoo.decoding.learn2pd import train_filter

N = 8


def _data(seed=0, m=2048):
  """Labels "final" iff the confidence exceeds 0.6; some rows unlabelled."""
  rng = np.random.default_rng(seed)
  conf = rng.random((m, N)).astype(np.float32)
  masked = rng.random((m, N)) < 0.7
  inputs = np.asarray(features(jnp.asarray(conf), jnp.asarray(masked)))
  labels = (conf > 0.6).astype(np.float32)
  return FilterData(jnp.asarray(inputs), jnp.asarray(labels),
                    jnp.asarray(masked, jnp.float32)), conf, masked


def test_features_read_one_where_decoded():
  _, conf, masked = _data()
  got = np.asarray(features(jnp.asarray(conf), jnp.asarray(masked)))
  np.testing.assert_array_equal(got, np.where(masked, conf, 1.0))


def test_bce_matches_brute_force():
  data, _, _ = _data(1, m=64)
  f = Filter.init(jax.random.key(0), N, 5)
  logits = np.asarray(f(data.inputs, jnp.ones_like(data.weight, bool)),
                      np.float64)
  p = 1 / (1 + np.exp(-logits))
  y, w = np.asarray(data.labels), np.asarray(data.weight)
  want = np.sum(-(y * np.log(p) + (1 - y) * np.log(1 - p)) * w) / w.sum()
  np.testing.assert_allclose(bce_loss(f, data), want, rtol=1e-5)


def test_training_learns_a_confidence_rule():
  data, conf, masked = _data(2)
  f = train_filter(data, jax.random.key(0), hidden=32, steps=400,
                   learning_rate=3e-2)
  test, conf, masked = _data(3)
  accept = np.asarray(jax.nn.sigmoid(f(jnp.asarray(conf),
                                       jnp.asarray(masked)))) > 0.5
  agree = (accept == (conf > 0.6))[masked]
  assert agree.mean() > 0.95, agree.mean()
  assert float(bce_loss(f, test)) < 0.25
