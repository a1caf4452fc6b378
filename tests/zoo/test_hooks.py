"""Hook points: names, captured values that fit the block's algebra, edits
that equal the decoder's own layer shift, under jit and in cached decoding."""

import functools

import flax.linen as nn
import flax.traverse_util
import jax
import numpy as np
import pytest
from jax import numpy as jnp

from zoo.interp import hooks
from zoo.lm.decoder import CachedLM, DecoderConfig, DecoderLM

V, E, L = 32, 16, 2
SITES = ("resid_pre", "z", "attn_out", "resid_mid", "mlp_out", "resid_post")


@functools.cache
def _model(mlp_dim=32):
  model = DecoderLM(DecoderConfig(vocab_size=V, embed_dim=E, num_layers=L,
                                  num_heads=2, mlp_dim=mlp_dim))
  variables = model.init(jax.random.key(0), jnp.zeros((1, 5), jnp.int32))
  return model, variables


def _tokens(b=2, t=7, seed=1):
  return jax.random.randint(jax.random.key(seed), (b, t), 0, V)


def test_points_name_every_site_of_every_block_in_call_order():
  model, _ = _model()
  assert hooks.points(model, _tokens()) == tuple(
      f"block_{i}/{s}" for i in range(L) for s in SITES)
  attention_only, _ = _model(mlp_dim=0)
  assert "block_0/mlp_out" not in hooks.points(attention_only, _tokens())


def test_hook_points_own_no_params():
  _, variables = _model()
  paths = flax.traverse_util.flatten_dict(nn.unbox(variables))
  assert not [p for p in paths if set(p) & set(SITES)]


def test_captured_activations_satisfy_the_block_algebra():
  model, variables = _model()
  logits, acts = hooks.capture(model, variables, _tokens(),
                               points=hooks.points(model, _tokens()))
  np.testing.assert_array_equal(logits, model.apply(variables, _tokens()))
  params = nn.unbox(variables)["params"]
  for i in range(L):
    a = lambda s, i=i: np.asarray(acts[f"block_{i}/{s}"], np.float64)
    np.testing.assert_allclose(a("resid_mid"), a("resid_pre") + a("attn_out"),
                               atol=1e-6)
    np.testing.assert_allclose(a("resid_post"), a("resid_mid") + a("mlp_out"),
                               atol=1e-6)
    out = np.asarray(params[f"block_{i}"]["attention"]["out"]["kernel"])
    np.testing.assert_allclose(np.einsum("bthd,hde->bte", a("z"), out),
                               a("attn_out"), atol=1e-5)
  np.testing.assert_array_equal(acts["block_0/resid_post"],
                                acts["block_1/resid_pre"])
  _, one = hooks.capture(model, variables, _tokens(), points="block_1/z")
  assert list(one) == ["block_1/z"]


def test_capture_in_chunks_equals_one_capture_of_the_whole_batch():
  model, variables = _model()
  tokens = _tokens(b=5)
  _, whole = hooks.capture(model, variables, tokens, points="block_1/z")
  np.testing.assert_allclose(
      hooks.capture_in_chunks(model, variables, tokens, "block_1/z", 2),
      whole["block_1/z"], atol=1e-6)


def test_an_edit_at_resid_post_equals_the_decoders_layer_shift():
  model, variables = _model()
  v = jax.random.normal(jax.random.key(2), (E,))
  with hooks.intervene({"block_0/resid_post": lambda x: x + 3.0 * v}):
    edited = model.apply(variables, _tokens())
  shift = lambda i, x: x + 3.0 * v * (i == 0)
  np.testing.assert_allclose(
      edited, model.apply(variables, _tokens(), layer_shift=shift), atol=1e-6)
  with hooks.intervene({"block_1/mlp_out": lambda x: x}):
    np.testing.assert_array_equal(model.apply(variables, _tokens()),
                                  _model()[0].apply(variables, _tokens()))


def test_a_function_jitted_before_the_block_is_traced_again_inside_it():
  model, variables = _model()
  forward = jax.jit(lambda t: model.apply(variables, t))
  plain = forward(_tokens())
  outs = []
  for alpha in (2.0, 3.0):  # fresh lambdas, possibly at one recycled id
    with hooks.intervene({"block_1/resid_mid": lambda x, a=alpha: x * a}):
      outs.append(forward(_tokens()))
  assert not np.allclose(outs[0], plain)
  assert not np.allclose(outs[0], outs[1])
  np.testing.assert_array_equal(forward(_tokens()), plain)


def test_edited_cached_decoding_equals_the_edited_full_forward():
  model, variables = _model()
  lm = CachedLM(variables["params"], model)
  v = jax.random.normal(jax.random.key(3), (E,))
  tokens = _tokens(t=6)
  with hooks.intervene({"block_0/resid_mid": lambda x: x - 2.0 * v}):
    full = model.apply(variables, tokens)
    cache = lm.init_cache(2, 8)
    first, cache = jax.jit(lm.extend)(tokens[:, :4], cache)
    rest, _ = jax.jit(lm.extend)(tokens[:, 4:], cache)
  np.testing.assert_allclose(jnp.concatenate([first, rest], 1), full,
                             atol=1e-5)
  assert not np.allclose(full, model.apply(variables, tokens), atol=1e-3)


def test_nested_edits_compose_outer_after_inner():
  model, variables = _model()
  p = "block_0/attn_out"
  with hooks.intervene({p: lambda x: x + 1.0}):
    with hooks.intervene({p: lambda x: 2.0 * x}):
      _, acts = hooks.capture(model, variables, _tokens(),
                              points=["block_0/resid_mid"])
  _, plain = hooks.capture(model, variables, _tokens(),
                           points=["block_0/resid_pre", p])
  np.testing.assert_allclose(
      acts["block_0/resid_mid"],
      plain["block_0/resid_pre"] + 2.0 * plain[p] + 1.0, atol=1e-6)


def test_bad_hook_requests_are_refused_by_name():
  model, variables = _model()
  with pytest.raises(ValueError, match=r"unknown hook point.*block_9/z.*"
                     r"block_0/resid_pre"):
    hooks.capture(model, variables, _tokens(), points=["block_9/z"])
  with pytest.raises(ValueError, match=r"intervene: unknown hook point.*"
                     r"resid_middle"):
    with hooks.intervene({"block_0/resid_middle": lambda x: x}):
      model.apply(variables, _tokens())
  with pytest.raises(ValueError, match=r"must keep the shape"):
    with hooks.intervene({"block_0/resid_mid": lambda x: x[..., :3]}):
      model.apply(variables, _tokens())
  with pytest.raises(ValueError, match="not callable"):
    with hooks.intervene({"block_0/resid_mid": 3.0}):
      pass
  with pytest.raises(ValueError, match="NaN activations at block_1/resid_pre"):
    with hooks.intervene({"block_0/resid_post": lambda x: x * jnp.nan}):
      hooks.capture(model, variables, _tokens(), points=["block_1/resid_pre"])
