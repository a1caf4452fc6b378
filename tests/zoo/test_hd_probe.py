"""The Hyperdimensional Probe (`zoo.interp.hd_probe`): `kv_analogies` is a
seeded one-to-one map with 20% of the (k1, k2) pairs held out, e_s is the
sum of the k-means centroids (the states themselves when K >= n, their
mean when K = 1), the states read are the subject's own, the bipolar output
is +-1 and decodes to v2 when it holds the target, and the smoke config
trains on a loaded subject that stays frozen."""

import jax
import numpy as np
import pytest
from jax import numpy as jnp

from train import config as config_lib
from train import loop
from train.data.builders import kv_analogies as kv
from zoo.errors import ConfigError
from zoo.interp import hd_probe, vsa
from zoo.lm.decoder import DecoderLM


def test_analogies_are_a_seeded_one_to_one_map_with_held_out_pairs():
  data, again = kv.generate(), kv.generate()
  np.testing.assert_array_equal(data["test"]["tokens"],
                                again["test"]["tokens"])
  both = {s: data[s]["concepts"] for s in data}
  assert len(both["train"]) == 1960 and len(both["test"]) == 490
  rows = np.concatenate([both["train"], both["test"]])
  value = dict(zip(rows[:, 0], rows[:, 1], strict=True))
  value.update(zip(rows[:, 2], rows[:, 3], strict=True))
  assert sorted(value) == list(range(50))
  assert sorted(value.values()) == list(range(50, 100))
  for row in rows:
    assert value[row[0]] == row[1] and value[row[2]] == row[3]
  pairs = {s: {(a, b) for a, _, b, _ in both[s]} for s in both}
  assert not pairs["train"] & pairs["test"]
  assert len(pairs["train"] | pairs["test"]) == 50 * 49
  assert {b for _, b in pairs["train"]} == set(range(50))
  tokens, c = data["train"]["tokens"], both["train"]
  np.testing.assert_array_equal(tokens[:, [1, 5]] - kv.KEY_0, c[:, [0, 2]])
  np.testing.assert_array_equal(tokens[:, [3, 7]] - kv.RECIPE.value_0,
                                c[:, [1, 3]] - 50)
  assert (tokens[:, [2, 6]] == kv.RECIPE.colon).all()
  assert hd_probe.SUBJECT.vocab_size == kv.RECIPE.vocab_size


def test_e_s_sums_the_centroids():
  states = jax.random.normal(jax.random.key(0), (6, 3, 8))
  np.testing.assert_allclose(hd_probe.compress(states, 5), states.sum(1),
                             rtol=1e-5, atol=1e-5)
  np.testing.assert_allclose(hd_probe.compress(states, 1), states.mean(1),
                             rtol=1e-5, atol=1e-5)
  # Two states of a row coincide: K = 2 merges them into one centroid.
  tied = states.at[:, 1].set(states[:, 0])
  np.testing.assert_allclose(hd_probe.compress(tied, 2),
                             tied[:, 0] + tied[:, 2], rtol=1e-5, atol=1e-5)


def test_states_are_the_subjects_upper_half_block_outputs():
  cfg = hd_probe.HDProbeConfig()
  assert cfg.points == ("block_2/resid_post", "block_3/resid_post")
  lm = DecoderLM(cfg.subject)
  prompts = jnp.asarray(kv.generate()["test"]["tokens"][:4, :7])
  params = lm.init(jax.random.key(1), prompts)["params"]
  states = hd_probe.layer_states(cfg, params, prompts)
  assert states.shape == (4, 2, 64)
  final = lm.apply({"params": params}, states[:, -1],
                   method=lambda m, x: m.final_norm(x))
  np.testing.assert_allclose(
      final, lm.apply({"params": params}, prompts, method="states")[:, -1],
      rtol=1e-5, atol=1e-5)


def test_bipolar_output_decodes_the_answer_it_holds():
  cfg = hd_probe.HDProbeConfig(hidden=32, dim=512)
  model = hd_probe.build(cfg)
  e_s = jax.random.normal(jax.random.key(2), (5, 64))
  params = model.init(jax.random.key(3), e_s)
  out = vsa.bipolar(model.apply(params, e_s), cfg.ties())
  assert out.shape == (5, 512) and set(np.unique(out)) == {-1.0, 1.0}
  concepts = jnp.asarray(kv.generate()["test"]["concepts"][:20])
  target = hd_probe.targets(cfg, concepts)
  noise = jax.random.normal(jax.random.key(4), target.shape)
  np.testing.assert_array_equal(
      hd_probe.answers(cfg, 3.0 * target + noise, concepts[:, :3]),
      concepts[:, 3])


def test_smoke_trains_on_a_loaded_subject_that_stays_frozen(tmp_path):
  lm_cfg = config_lib.load_config("hd_probe.py:smoke,stage=lm")
  lm_run = tmp_path / "lm"
  loop.run(lm_cfg, lm_run, devices=jax.devices()[:1])
  cfg = config_lib.load_config(f"hd_probe.py:smoke,subject={lm_run}")
  assert cfg.steps <= 50 and cfg.system == "hd_probe"
  summary = loop.run(cfg, tmp_path / "probe", devices=jax.devices()[:1])
  assert np.isfinite(summary["train_loss"])
  assert 0.0 <= summary["train_probe_accuracy"] <= 1.0
  _, lm_state, _ = loop.load(lm_run, devices=jax.devices()[:1])
  _, state, _ = loop.load(tmp_path / "probe", devices=jax.devices()[:1])
  for a, b in zip(jax.tree.leaves(lm_state.params),
                  jax.tree.leaves(state.model_state["subject"]), strict=True):
    np.testing.assert_array_equal(a, b)


def test_bad_input_is_one_clear_error():
  with pytest.raises(ConfigError, match="stage must be one of"):
    config_lib.load_config("hd_probe.py:stage=sae")
  with pytest.raises(ConfigError, match="subject= is for stage=probe"):
    config_lib.load_config("hd_probe.py:stage=lm,subject=x")
  with pytest.raises(ValueError, match="dropout must be in"):
    hd_probe.HDProbeConfig(dropout=1.0)
  with pytest.raises(ValueError, match="hypervector sizes differ"):
    hd_probe.answers(hd_probe.HDProbeConfig(dim=256), jnp.ones((2, 128)),
                     jnp.zeros((2, 3), jnp.int32))
