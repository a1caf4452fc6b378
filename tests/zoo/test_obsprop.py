"""Observable Propagation's identities on random attention-only models."""

import flax.linen as nn
import jax
import numpy as np
import pytest
from jax import numpy as jnp

from train import config as config_lib
from train import loop
from train.data.builders import pronoun_templates
from zoo.interp import hooks, obsprop
from zoo.layers.mlps.gated import GatedMLP
from zoo.layers.transformer import MLP
from zoo.lm.decoder import DecoderConfig, DecoderLM

CONFIG = DecoderConfig(vocab_size=40, embed_dim=32, num_layers=2,
                       num_heads=4, num_kv_heads=2, mlp_dim=0)


@pytest.fixture(scope="module")
def subject():
  model = DecoderLM(CONFIG)
  tokens = jax.random.randint(jax.random.key(1), (3, 7), 0, 40)
  variables = jax.jit(lambda: nn.meta.unbox(
      model.init(jax.random.key(0), tokens)))()
  # Gains away from 1, so a feature vector that drops them is caught.
  params = jax.tree_util.tree_map_with_path(
      lambda path, p: p * (1.5 + jnp.sin(jnp.arange(p.size)).reshape(p.shape))
      if "scale" in jax.tree_util.keystr(path) else p, variables["params"])
  return model, {"params": params}, tokens


def test_head_contribution_is_feature_score_of_the_source(subject):
  """Attention forced onto token 2: every later position's head output,
  read by y, is y_head . norm(x_2), for each head (two share a KV head)."""
  model, variables, tokens = subject
  src = 2
  # Rows before the source see themselves (a row must see something).
  mask = jnp.zeros((7, 7), bool).at[src:, src].set(True) | (
      jnp.eye(7, dtype=bool) & (jnp.arange(7) < src)[:, None])
  points = [f"block_{i}/{p}" for i in range(2) for p in ("z", "resid_pre")]
  _, acts = hooks.capture(model, variables, tokens, points=points,
                          qq_mask=mask)
  y = jax.random.normal(jax.random.key(3), (32,))
  for layer in range(2):
    w_o = variables["params"][f"block_{layer}"]["attention"]["out"]["kernel"]
    x_src = acts[f"block_{layer}/resid_pre"][:, src]  # [B, E]
    for head in range(4):
      out = acts[f"block_{layer}/z"][:, src:, head] @ w_o[head]  # [B, T', E]
      feature = obsprop.head_feature(variables["params"], CONFIG, layer,
                                     head, y)
      score = obsprop.feature_score(feature, x_src, CONFIG)  # [B]
      np.testing.assert_allclose(out @ y, np.broadcast_to(
          score[:, None], out.shape[:2]), rtol=1e-5, atol=1e-5)


def test_output_feature_reads_the_logit_difference(subject):
  model, variables, tokens = subject
  logits, acts = hooks.capture(model, variables, tokens,
                               points=["block_1/resid_post"])
  n = obsprop.logit_difference(40, 5, 11)
  y = obsprop.output_feature(variables["params"], CONFIG, n)
  np.testing.assert_allclose(
      obsprop.feature_score(y, acts["block_1/resid_post"], CONFIG),
      logits[..., 5] - logits[..., 11], rtol=1e-5, atol=1e-5)


def test_path_composes_heads(subject):
  _, variables, _ = subject
  y = jax.random.normal(jax.random.key(4), (32,))
  later = obsprop.head_feature(variables["params"], CONFIG, 1, 3, y)
  np.testing.assert_allclose(
      obsprop.path_feature(variables["params"], CONFIG, [(1, 3), (0, 1)], y),
      obsprop.head_feature(variables["params"], CONFIG, 0, 1, later),
      rtol=1e-6)
  features = obsprop.head_features(variables["params"], CONFIG, y)
  norms = np.linalg.norm(features, axis=-1)
  assert obsprop.top_head(features) == np.unravel_index(norms.argmax(),
                                                        norms.shape)


def test_coupling_is_the_regression_slope():
  """Slope of y2.x on y1.x over 10^6 x ~ N(0, I_256) = C(y1, y2), 2%."""
  k1, k2, k3 = jax.random.split(jax.random.key(5), 3)
  y1 = jax.random.normal(k1, (256,))
  y2 = 0.6 * y1 + jax.random.normal(k2, (256,))

  @jax.jit
  def sums(key):
    def chunk(i, acc):
      x = jax.random.normal(jax.random.fold_in(key, i), (10_000, 256))
      a, b = x @ y1, x @ y2
      return acc + jnp.stack([a.sum(), b.sum(), (a * a).sum(),
                              (a * b).sum()])
    return jax.lax.fori_loop(0, 100, chunk, jnp.zeros(4))
  sa, sb, saa, sab = sums(k3) / 1e6
  slope = (sab - sa * sb) / (saa - sa * sa)
  c = obsprop.coupling(y1, y2)
  assert abs(slope - c) <= 0.02 * abs(c)
  assert abs(obsprop.coupling(y2, y1) - c) > 0.1  # asymmetric


def test_norm_barely_turns_feature_vectors():
  """cos(J^T y, y) >= 0.95 at width 256 (the LN theorem), and the true
  gradient is orthogonal to x (the norm ignores scale)."""
  config = DecoderConfig(embed_dim=256, num_heads=4, mlp_dim=0)
  kx, ky = jax.random.split(jax.random.key(6))
  x = jax.random.normal(kx, (64, 256)) * 3 + 0.5
  y = jax.random.normal(ky, (64, 256))
  cos = jax.jit(jax.vmap(
      lambda a, b: obsprop.norm_jacobian_cosine(a, b, config)))(x, y)
  assert float(cos.min()) >= 0.95
  grads = jax.jit(jax.vmap(lambda a, b: obsprop.linearised_feature(
      lambda v: obsprop.normalised(v, config), a, b)))(x, y)
  np.testing.assert_allclose(jnp.sum(grads * x, -1), 0.0, atol=1e-4)


def test_linearised_mlp_is_first_order():
  mlp = MLP(48, jnp.float32, GatedMLP())
  x = jax.random.normal(jax.random.key(7), (16,))
  params = jax.jit(mlp.init)(jax.random.key(8), x)
  y, delta = jax.random.normal(jax.random.key(9), (2, 16))
  f = lambda v: mlp.apply(params, v)
  eps = 1e-2

  @jax.jit
  def both():
    slope = (f(x + eps * delta) - f(x - eps * delta)) @ y / (2 * eps)
    return obsprop.linearised_feature(f, x, y), slope
  feature, slope = both()
  np.testing.assert_allclose(feature @ delta, slope, rtol=1e-3)


def test_bad_input_is_named(subject):
  _, variables, _ = subject
  params, y = variables["params"], jnp.ones(32)
  with pytest.raises(ValueError, match="layer 2"):
    obsprop.head_feature(params, CONFIG, 2, 0, y)
  with pytest.raises(ValueError, match="head 4"):
    obsprop.head_feature(params, CONFIG, 0, 4, y)
  with pytest.raises(ValueError, match=r"observable must be \[40\]"):
    obsprop.output_feature(params, CONFIG, jnp.ones(39))
  with pytest.raises(ValueError, match="negative token 40"):
    obsprop.logit_difference(40, 1, 40)
  with pytest.raises(ValueError, match="strictly decreasing"):
    obsprop.path_feature(params, CONFIG, [(0, 1), (1, 0)], y)


def test_templates_hold_out_their_prompts():
  """One pronoun target per sentence, right after the connector; the
  held-out (verb, object) pairs never occur in training; the class of the
  name at `name_position` is `female`."""
  recipe = pronoun_templates.Recipe(num_train=400, num_test=100)
  data = pronoun_templates.generate(recipe)
  pronouns = {pronoun_templates.word_id(w) for w in ("she", "he")}
  verbs = {pronoun_templates.word_id(w) for w in pronoun_templates.VERBS}
  pairs = {}
  for split, arrays in data.items():
    tokens, rows = arrays["tokens"], np.arange(len(arrays["tokens"]))
    assert (arrays["target_mask"].sum(1) == 1).all()
    target = tokens[rows, arrays["target_mask"].argmax(1) + 1]
    assert set(target.tolist()) <= pronouns
    names = tokens[rows, arrays["name_position"]] - recipe.name_0
    assert ((names >= 0) & (names < 2 * recipe.names_per_class)).all()
    np.testing.assert_array_equal(names < recipe.names_per_class,
                                  arrays["female"])
    pairs[split] = {(v, row[i + 2]) for row in tokens
                    for i, v in enumerate(row) if v in verbs}
  assert not pairs["train"] & pairs["test"]


def test_smoke_trains(tmp_path):
  (tmp_path / "data").mkdir()
  cfg = config_lib.load_config("obsprop.py:smoke", [
      f"data.data_dir={tmp_path / 'data'}", "mesh.data=1"])
  summary = loop.run(cfg, tmp_path / "run", devices=jax.devices()[:1])
  assert np.isfinite(summary["train_loss"])
