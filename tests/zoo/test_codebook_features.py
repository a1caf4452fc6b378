"""Codebook Features' layer: outputs, gradients and interventions against
brute force, on random inputs; the decoder's hooks."""

import dataclasses

import flax.linen as nn
import jax
import numpy as np
import pytest
from flax import traverse_util
from jax import numpy as jnp

from zoo.layers.hooks import NoHooks
from zoo.lm import decoder
from zoo.vq import codebook_features as cf

G, D, K = 3, 8, 16


def _layer(k=1, replace_every=0, num_codes=K):
  cfg = cf.CodebookLayerConfig(num_codes=num_codes, k=k,
                               replace_every=replace_every)
  return cf.CodebookLayer(cfg, groups=G, dim=D)


def _init(layer, a, seed):
  return nn.meta.unbox(layer.init(jax.random.key(seed), a))


def _inputs(seed=0, shape=(4, 5)):
  return jax.random.normal(jax.random.key(seed), (*shape, G, D)) * 3 + 1


def _layer_norm(a):
  a = np.asarray(a, np.float64)
  mean = a.mean(-1, keepdims=True)
  var = ((a - mean) ** 2).mean(-1, keepdims=True)
  return (a - mean) / np.sqrt(var + 1e-5)


def _brute_top_k(x, codebook, k, mask=None):
  """[N, G, d], [G, K, d] -> [N, G, k] ids by x . c / |c|, best first."""
  c = np.asarray(codebook, np.float64)
  scores = np.einsum("ngd,gkd->ngk", x, c / np.linalg.norm(c, axis=-1,
                                                           keepdims=True))
  if mask is not None:
    scores = np.where(mask[None], scores, -np.inf)
  return np.argsort(-scores, axis=-1, kind="stable")[..., :k]


def _apply(layer, variables, a, **interventions):
  if interventions:
    variables = {**variables, "interventions": interventions}
  y, state = layer.apply(variables, a, mutable=["intermediates"])
  return y, state["intermediates"]["codes"][0]


@pytest.mark.parametrize("k", [1, 3])
def test_output_is_mean_of_brute_force_top_k(k):
  a = _inputs()
  layer = _layer(k)
  variables = _init(layer, a, 1)
  y, codes = _apply(layer, variables, a)
  x = _layer_norm(a).reshape(-1, G, D)
  codebook = np.asarray(variables["params"]["codebook"], np.float64)
  ids = _brute_top_k(x, codebook, k)
  np.testing.assert_array_equal(np.sort(np.asarray(codes).reshape(ids.shape),
                                        -1), np.sort(ids, -1))
  expected = codebook[np.arange(G)[None, :, None], ids].mean(-2)
  np.testing.assert_allclose(np.asarray(y).reshape(expected.shape), expected,
                             rtol=1e-5, atol=1e-5)


def test_grad_to_x_is_upstream_and_codebook_grad_is_surrogates():
  rng = np.random.default_rng(0)
  n, k = 40, 2
  x = jnp.asarray(rng.normal(size=(n, G, D)), jnp.float32)
  codebook = jnp.asarray(rng.normal(size=(G, K, D)), jnp.float32)
  # Repeated codes across tokens, distinct within a token (as top-k gives).
  indices = jnp.asarray(np.stack([np.stack([rng.choice(K, k, replace=False)
                                            for _ in range(G)])
                                  for _ in range(n)]), jnp.int32)
  upstream = jnp.asarray(rng.normal(size=(n, G, D)), jnp.float32)
  y, vjp = jax.vjp(lambda x_, c_: cf.mean_of_codes(x_, c_, indices),
                   x, codebook)
  g_x, g_codebook = vjp(upstream)
  np.testing.assert_array_equal(g_x, upstream)

  def surrogate(c):
    out = cf._gather_mean(c, indices)
    return (jnp.sum(upstream * out)
            + jnp.mean(jnp.sum((out - x) ** 2, axis=(-2, -1))))

  np.testing.assert_allclose(g_codebook, jax.grad(surrogate)(codebook),
                             rtol=1e-5, atol=1e-6)
  np.testing.assert_array_equal(y, cf._gather_mean(codebook, indices))


def test_layer_is_straight_through_its_layer_norm():
  a = _inputs(2)
  layer = _layer(k=2)
  variables = _init(layer, a, 0)
  w = jax.random.normal(jax.random.key(3), a.shape)
  got = jax.grad(lambda a_: jnp.sum(w * layer.apply(variables, a_)))(a)
  want = jax.grad(lambda a_: jnp.sum(
      w * jax.nn.standardize(a_, axis=-1, epsilon=1e-5)))(a)
  np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)


def test_k1_with_codes_set_to_normalised_inputs_is_identity():
  a = _inputs(4, shape=(K,))  # K tokens: one code each
  layer = _layer(k=1)
  variables = _init(layer, a, 0)
  x = jnp.asarray(_layer_norm(a), jnp.float32)  # [K, G, d]
  params = {**variables["params"], "codebook": x.transpose(1, 0, 2)}
  y, codes = _apply(layer, {"params": params}, a)
  np.testing.assert_array_equal(codes[..., 0],
                                np.broadcast_to(np.arange(K)[:, None], (K, G)))
  np.testing.assert_allclose(y, x, rtol=1e-5, atol=1e-5)


def test_forced_code_gives_exactly_that_code():
  a = _inputs(5)
  layer = _layer(k=3)
  variables = _init(layer, a, 0)
  rng = np.random.default_rng(1)
  force = rng.integers(-1, K, size=a.shape[:-1]).astype(np.int32)
  y, codes = _apply(layer, variables, a, force=force)
  y_free, codes_free = _apply(layer, variables, a)
  codebook = np.asarray(variables["params"]["codebook"])
  forced = force >= 0
  want = codebook[np.arange(G), np.maximum(force, 0)]
  np.testing.assert_array_equal(np.asarray(y)[forced], want[forced])
  np.testing.assert_array_equal(np.asarray(y)[~forced],
                                np.asarray(y_free)[~forced])
  assert (np.asarray(codes)[forced] == force[forced][:, None]).all()
  np.testing.assert_array_equal(np.asarray(codes)[~forced],
                                np.asarray(codes_free)[~forced])


def test_masked_codes_are_never_chosen():
  a = _inputs(6, shape=(64,))
  k = 2
  layer = _layer(k=k)
  variables = _init(layer, a, 0)
  _, free = _apply(layer, variables, a)
  # Disable, in every group, the codes chosen most often without a mask.
  mask = np.ones((G, K), bool)
  for g in range(G):
    mask[g, np.bincount(np.asarray(free)[:, g].ravel(),
                        minlength=K).argsort()[-K // 2:]] = False
  y, codes = _apply(layer, variables, a, code_mask=jnp.asarray(mask))
  codes = np.asarray(codes)
  assert mask[np.arange(G)[None, :, None], codes].all()
  x = _layer_norm(a)
  codebook = np.asarray(variables["params"]["codebook"], np.float64)
  ids = _brute_top_k(x, codebook, k, mask)
  np.testing.assert_array_equal(np.sort(codes, -1), np.sort(ids, -1))
  np.testing.assert_allclose(
      y, codebook[np.arange(G)[None, :, None], ids].mean(-2), rtol=1e-5,
      atol=1e-5)


def test_groups_are_independent():
  a = _inputs(7)
  layer = _layer(k=2)
  variables = _init(layer, a, 0)
  b = a.at[..., 1:, :].set(_inputs(8)[..., 1:, :])
  np.testing.assert_array_equal(layer.apply(variables, a)[..., 0, :],
                                layer.apply(variables, b)[..., 0, :])


def test_dead_codes_restart_at_batch_inputs():
  a = _inputs(9, shape=(32,))
  layer = _layer(k=1, replace_every=2)
  variables = _init(layer, a, 0)
  stats = variables["codebook_stats"]
  params = variables["params"]
  fired = np.zeros((G, K), bool)
  for step in range(2):
    _, new = layer.apply({"params": params, "codebook_stats": stats}, a,
                         rngs={"restart": jax.random.key(step)},
                         mutable=["codebook_stats", "intermediates"])
    codes = np.asarray(new["intermediates"]["codes"][0])[..., 0]
    for g in range(G):
      fired[g, codes[:, g]] = True
    if step == 0:  # not due yet: nothing moves
      np.testing.assert_array_equal(new["codebook_stats"]["offset"], 0)
    stats = new["codebook_stats"]
  assert (~fired).any()
  effective = params["codebook"] + stats["offset"]
  np.testing.assert_array_equal(effective[fired], params["codebook"][fired])
  x = _layer_norm(a)  # [N, G, d]
  for g, j in zip(*np.nonzero(~fired)):
    distance = np.linalg.norm(x[:, g] - np.asarray(effective[g, j]), axis=-1)
    assert distance.min() <= 1e-3 * np.sqrt(D) * 5
  np.testing.assert_array_equal(stats["counts"], 0)


def test_bad_input_is_one_clear_error():
  with pytest.raises(ValueError, match="k=5 must be in"):
    cf.CodebookLayerConfig(num_codes=4, k=5)
  with pytest.raises(ValueError,
                     match="unknown hook .attn.; known: attn_preproj, mlp"):
    cf.CodebookHooks(sites=("attn",))
  a = _inputs()
  layer = _layer(k=2)
  variables = _init(layer, a, 0)
  force = np.full(a.shape[:-1], -1, np.int32)
  force[0, 0, 1] = K
  with pytest.raises(ValueError, match=f"code id {K} is out of range"):
    _apply(layer, variables, a, force=force)
  mask = np.ones((G, K), bool)
  mask[1] = False
  with pytest.raises(ValueError, match="disables all 16 codes of group 1"):
    _apply(layer, variables, a, code_mask=mask)
  mask[1, 0] = True
  with pytest.raises(ValueError, match="fewer than k=2"):
    _apply(layer, variables, a, code_mask=mask)
  with pytest.raises(ValueError, match=r"must be \[..., 3, 8\]"):
    layer.apply(variables, a[..., :2, :])


def _decoder(hooks):
  cfg = dataclasses.replace(cf.TOKFSM_MODEL, block=dataclasses.replace(
      cf.TOKFSM_MODEL.block, hooks=hooks))
  model = decoder.DecoderLM(cfg)
  tokens = jax.random.randint(jax.random.key(5), (2, 9), 4, 14)
  return model, nn.meta.unbox(model.init(jax.random.key(0), tokens)), tokens


def test_hooks_off_leave_the_decoder_as_it_was():
  assert decoder.DecoderConfig().block.hooks == NoHooks()
  plain, v_plain, tokens = _decoder(NoHooks())
  unused, v_unused, _ = _decoder(cf.CodebookHooks(sites=()))
  hooked, v_hooked, _ = _decoder(cf.CodebookHooks())
  flat = lambda v: traverse_util.flatten_dict(v["params"])
  assert flat(v_unused).keys() == flat(v_plain).keys()
  np.testing.assert_array_equal(unused.apply(v_unused, tokens),
                                plain.apply(v_plain, tokens))
  # Codebooks add their own params and change no other.
  extra = flat(v_hooked).keys() - flat(v_plain).keys()
  assert {k[:-1] for k in extra} == {
      (f"block_{i}", *site) for i in range(2)
      for site in (("attention", "attn_preproj_hook"), ("mlp_hook",))}
  for key, value in flat(v_plain).items():
    np.testing.assert_array_equal(flat(v_hooked)[key], value)


def test_decoder_codes_and_causal_forcing():
  model, variables, tokens = _decoder(cf.CodebookHooks())
  logits, state = model.apply(variables, tokens, mutable=["intermediates"])
  codes = traverse_util.flatten_dict(state["intermediates"])
  assert {"/".join(k[:-1]): v[0].shape for k, v in codes.items()} == {
      f"block_{i}/{site}": (2, 9, groups, 1) for i in range(2)
      for site, groups in (("attention/attn_preproj_hook", 4),
                           ("mlp_hook", 1))}
  force = np.full((2, 9, 4), -1, np.int32)
  force[:, 5, 2] = 42
  forced = model.apply({**variables, "interventions": cf.interventions(
      {"block_0/attention/attn_preproj_hook": {"force": force}})}, tokens)
  np.testing.assert_array_equal(forced[:, :5], logits[:, :5])
  assert np.abs(np.asarray(forced[:, 5:] - logits[:, 5:])).max() > 0
