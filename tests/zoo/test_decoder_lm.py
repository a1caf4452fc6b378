"""The decoder LM and table LMs: caches agree with full forward passes;
the checkpoint-family options leave the default decoder as it was."""

import hashlib
import json
import pathlib

import flax.linen as nn
import jax
import numpy as np
import pytest
from flax import traverse_util
from jax import numpy as jnp

from ops.decoding import DecodingModel, tree
from ops.decoding.sampling import generate
from zoo.errors import ConfigError
from zoo.layers.mlps import MLPConfig
from zoo.layers.mlps.gated import GatedMLP
from zoo.layers.mlps.plain import PlainMLP
from zoo.layers.norms import NormConfig
from zoo.layers.norms.layer import LayerNorm
from zoo.layers.norms.rms import RMSNorm
from zoo.layers.positions import PositionConfig
from zoo.layers.positions.learned import LearnedPositions
from zoo.layers.positions.rope import Rope
from zoo.layers.positions.rope_linear import LinearRope
from zoo.layers.positions.rope_llama3 import Llama3Rope
from zoo.layers.rope import apply_rope
from zoo.layers.transformer import BlockOptions
from zoo.lm.decoder import CachedLM, DecoderConfig, DecoderLM
from zoo.lm.table import TableLM

CFG = DecoderConfig(vocab_size=37, embed_dim=32, num_layers=2, num_heads=4,
                    num_kv_heads=2, mlp_dim=48)


@pytest.fixture(scope="module")
def lm():
  model = DecoderLM(CFG)
  tokens = jnp.zeros((1, 4), jnp.int32)
  return CachedLM(model.init(jax.random.key(0), tokens)["params"], model)


def test_chunked_cache_equals_full_forward(lm):
  tokens = jax.random.randint(jax.random.key(1), (3, 11), 0, CFG.vocab_size)
  full = lm(tokens)
  cache = lm.init_cache(3, 16)
  parts = []
  for lo, hi in ((0, 4), (4, 5), (5, 11)):
    logits, cache = lm.extend(tokens[:, lo:hi], cache)
    parts.append(logits)
  np.testing.assert_allclose(np.concatenate(parts, 1), full, atol=2e-5)
  assert np.all(np.asarray(cache.length) == 11)


def test_states_are_what_the_head_reads(lm):
  """states() is causal, and head_logits(states) is the forward's logits."""
  tokens = jax.random.randint(jax.random.key(7), (2, 9), 0, CFG.vocab_size)
  apply = lambda method, *a: lm.module.apply({"params": lm.params}, *a,
                                             method=method)
  states = apply("states", tokens)
  assert states.shape == (2, 9, CFG.embed_dim)
  np.testing.assert_array_equal(apply("head_logits", states), lm(tokens))
  later = tokens.at[:, 6:].set((tokens[:, 6:] + 1) % CFG.vocab_size)
  np.testing.assert_array_equal(apply("states", later)[:, :6], states[:, :6])


def test_tree_forward_equals_each_root_path_forward(lm):
  """A node's logits under the ancestor mask = its path's plain forward."""
  prefix = jax.random.randint(jax.random.key(2), (1, 5), 0, CFG.vocab_size)
  parent = jnp.array([-1, 0, 0, 1, 1, 2, 5])
  nodes = jax.random.randint(jax.random.key(3), (1, 7), 0, CFG.vocab_size)
  cache = lm.init_cache(1, 16)
  _, cache = lm.extend(prefix, cache)
  logits, _ = lm.extend(nodes, cache, positions=5 + tree.depth(parent)[None],
                        qq_mask=tree.ancestor_mask(parent))
  for node in range(7):
    path = np.flatnonzero(np.asarray(tree.ancestor_mask(parent))[node])
    seq = jnp.concatenate([prefix, nodes[:, path]], axis=1)
    np.testing.assert_allclose(logits[0, node], lm(seq)[0, -1], atol=2e-5)


def test_commit_keeps_the_accepted_slots(lm):
  prefix = jax.random.randint(jax.random.key(4), (2, 3), 0, CFG.vocab_size)
  nodes = jax.random.randint(jax.random.key(5), (2, 4), 0, CFG.vocab_size)
  parent = jnp.array([-1, 0, 0, 2])
  cache = lm.init_cache(2, 12)
  _, cache = lm.extend(prefix, cache)
  start = cache.length
  _, cache = lm.extend(nodes, cache, positions=3 + tree.depth(parent)[None],
                       qq_mask=tree.ancestor_mask(parent))
  path = jnp.array([[0, 2, 3, 3], [0, 1, 1, 1]])
  n = jnp.array([3, 2])
  cache = cache.commit(start, path, n)
  nxt = jnp.array([[7], [8]])
  logits, _ = lm.extend(nxt, cache)
  for row in range(2):
    kept = nodes[row, path[row, :n[row]]]
    seq = jnp.concatenate([prefix[row], kept, nxt[row]])[None]
    np.testing.assert_allclose(logits[row, 0], lm(seq)[0, -1], atol=2e-5)


def test_take_selects_rows(lm):
  tokens = jax.random.randint(jax.random.key(6), (3, 5), 0, CFG.vocab_size)
  cache = lm.init_cache(3, 8)
  _, cache = lm.extend(tokens, cache)
  picked = cache.take(jnp.array([2, 2, 0]))
  logits, _ = lm.extend(jnp.ones((3, 1), jnp.int32), picked)
  ref, _ = lm.extend(jnp.ones((3, 1), jnp.int32), cache)
  np.testing.assert_allclose(logits, ref[jnp.array([2, 2, 0])], atol=1e-6)


def test_bad_configs_are_refused():
  with pytest.raises(ConfigError, match="num_kv_heads"):
    DecoderConfig(num_heads=4, num_kv_heads=3)
  with pytest.raises(ConfigError, match="heads of even width"):
    DecoderConfig(embed_dim=30, num_heads=2)


@pytest.mark.parametrize("order", [2, 3])
def test_table_lm_reads_its_table(order):
  lm = TableLM.random(jax.random.key(7), 6, order=order)
  tokens = jnp.array([[1, 4, 2, 5, 0]])
  logits, _ = lm.extend(tokens, lm.init_cache(1, 8))
  for i in range(5):
    row = (lm.logits[tokens[0, i]] if order == 2 else
           lm.logits[tokens[0, i - 1] if i else 6, tokens[0, i]])
    np.testing.assert_array_equal(logits[0, i], row)


def test_table_lm_under_a_tree_sees_the_parent():
  lm = TableLM.random(jax.random.key(8), 6, order=3)
  cache = lm.init_cache(1, 8)
  _, cache = lm.extend(jnp.array([[3, 1]]), cache)
  parent = jnp.array([-1, 0, 0, 2])
  nodes = jnp.array([[4, 5, 2, 0]])
  logits, _ = lm.extend(nodes, cache, positions=2 + tree.depth(parent)[None],
                        qq_mask=tree.ancestor_mask(parent))
  for node, prev in ((0, 1), (1, 4), (2, 4), (3, 2)):
    np.testing.assert_array_equal(logits[0, node],
                                  lm.logits[prev, nodes[0, node]])


def test_both_models_are_decoding_models(lm):
  table = TableLM.random(jax.random.key(0), vocab_size=11)
  for model in (lm, table):
    assert isinstance(model, DecodingModel)
    cache = model.init_cache(batch=2, capacity=8)
    logits, cache = model.extend(jnp.ones((2, 3), jnp.int32), cache)
    assert logits.shape == (2, 3, model.vocab_size)
    np.testing.assert_array_equal(cache.length, [3, 3])
  assert not isinstance(object(), DecodingModel)


GOLDEN = (pathlib.Path(__file__).resolve().parents[1] / "data"
          / "decoder_lm_default.json")


def test_the_default_decoder_is_bit_identical_to_before_its_options():
  """Params and logits of `DecoderConfig()` as the code before the
  checkpoint-family options made them (tests/data/decoder_lm_default.json:
  sha256 of every param and of the jitted logits)."""
  golden = json.loads(GOLDEN.read_text())["default"]
  model = DecoderLM(DecoderConfig())
  tokens = (jnp.arange(12).reshape(2, 6) * 7) % 4096
  variables = jax.jit(model.init)(jax.random.key(0), tokens)
  flat = traverse_util.flatten_dict(nn.meta.unbox(variables["params"]))
  digest = lambda a: hashlib.sha256(np.asarray(a).tobytes()).hexdigest()
  assert {"/".join(k): digest(v) for k, v in flat.items()} == golden[
      "params_sha256"]
  logits = np.asarray(jax.jit(model.apply)(variables, tokens))
  np.testing.assert_array_equal(logits[:, :, :16],
                                np.float32(golden["logits_first_16"]))
  assert digest(logits) == golden["logits_sha256"]


def test_positions_norms_and_mlps_are_plug_ins():
  assert list(PositionConfig.kinds()) == ["learned", "none", "rope",
                                          "rope_linear", "rope_llama3"]
  assert list(NormConfig.kinds()) == ["layer", "layer_nobias", "rms"]
  assert list(MLPConfig.kinds()) == ["gated", "plain"]
  cfg = DecoderConfig()
  assert (cfg.positions, cfg.block.norm, cfg.block.mlp) == (
      Rope(), RMSNorm(1e-6), GatedMLP("silu", False))


def test_linear_rope_at_scaled_positions_is_rope():
  x = jax.random.normal(jax.random.key(9), (1, 5, 2, 8))
  positions = jnp.arange(5)[None]
  scaled = LinearRope(3.0).frequencies(8, 100.0)
  np.testing.assert_allclose(
      apply_rope(x, 3 * positions, frequencies=scaled),
      apply_rope(x, positions, 100.0), atol=1e-5)


def test_llama3_rope_scales_long_wavelengths_only():
  freq = np.asarray(Rope().frequencies(16, 10_000.0))
  scaled = np.asarray(Llama3Rope(8.0, 1.0, 4.0, 16).frequencies(16, 10_000.0))
  wavelength = 2 * np.pi / freq
  np.testing.assert_allclose(scaled[wavelength > 16],
                             freq[wavelength > 16] / 8, rtol=1e-6)
  np.testing.assert_array_equal(scaled[wavelength < 4], freq[wavelength < 4])
  middle = (wavelength >= 4) & (wavelength <= 16)
  assert middle.any()
  assert ((scaled[middle] < freq[middle])
          & (scaled[middle] > freq[middle] / 8)).all()


def test_learned_positions_bound_the_context():
  cfg = DecoderConfig(vocab_size=11, embed_dim=16, num_layers=1, num_heads=2,
                      mlp_dim=16, positions=LearnedPositions(6),
                      block=BlockOptions(norm=LayerNorm(), mlp=PlainMLP()))
  model = DecoderLM(cfg)
  params = model.init(jax.random.key(0), jnp.zeros((1, 4), jnp.int32))
  lm = CachedLM(params["params"], model)
  assert lm.init_cache(1, 10).capacity == 6
  with pytest.raises(ValueError, match="holds 6"):
    generate(lm, jnp.ones((1, 4), jnp.int32), 5)
  with pytest.raises(ValueError, match="learned table holds 6"):
    lm(jnp.ones((1, 7), jnp.int32))


def test_bad_options_are_refused():
  with pytest.raises(ValueError, match="unknown NormConfig kind 'batch'"):
    NormConfig.of_kind("batch")
  with pytest.raises(ConfigError, match="activation must be one of"):
    GatedMLP(activation="tanh")
  with pytest.raises(ConfigError, match="heads of even width"):
    DecoderConfig(embed_dim=32, num_heads=2, head_width=5)
  DecoderConfig(embed_dim=32, num_heads=2, head_width=5,
                positions=LearnedPositions())  # no rotation, odd is fine
  with pytest.raises(ConfigError, match="factor must be > 0"):
    LinearRope(0.0)


def test_set_switches_the_kinds_and_a_saved_config_restores_them():
  from train import config as config_lib  # noqa: PLC0415

  cfg = config_lib.load_config("lm.py:smoke", [
      "model.block.norm=layer", "model.block.norm.eps=1e-5",
      "model.block.mlp=plain", "model.block.mlp.activation=gelu",
      "model.positions=learned", "model.positions.max_positions=300",
      "model.tied_embeddings=false"])
  assert (cfg.model.block.norm, cfg.model.block.mlp, cfg.model.positions) == (
      LayerNorm(1e-5), PlainMLP("gelu"), LearnedPositions(300))
  assert config_lib.from_dict(config_lib.to_dict(cfg)).model == cfg.model
  with pytest.raises(ConfigError, match="unknown NormConfig kind 'batch'"):
    config_lib.load_config("lm.py:smoke", ["model.block.norm=batch"])
