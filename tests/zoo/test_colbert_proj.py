"""ColBERT projection heads: the identities that tie the variants together."""

import jax
import numpy as np
import pytest
from flax import linen as nn
from jax import numpy as jnp

from zoo import registry
from zoo.retrieval import colbert
from zoo.retrieval.colbert import ColBERTConfig, ColBERTHead
from zoo.retrieval.heads import HeadConfig
from zoo.retrieval.heads.mlp import FFNHead, GLUHead

IN, OUT = 24, 8


def _states(seed=0, shape=(3, 5, IN)):
  return jax.random.normal(jax.random.key(seed), shape)


def _head(kind="linear", **options) -> HeadConfig:
  return HeadConfig.of_kind(kind)(**options)


def _init(head: HeadConfig, seed=1):
  model = ColBERTHead(ColBERTConfig(head=head, input_dim=IN))
  return model, nn.meta.unbox(model.init(jax.random.key(seed), _states()))


def _params(variables):
  return jax.tree.map(np.asarray, variables["params"])


def test_output_is_unit_norm_and_shaped():
  for head in (_head(out_dim=OUT),
               _head(kind="glu", out_dim=OUT, expansion=2.0,
                          residual=True)):
    model, variables = _init(head)
    y = model.apply(variables, _states())
    assert y.shape == (3, 5, OUT)
    np.testing.assert_allclose(np.linalg.norm(y, axis=-1), 1.0, rtol=1e-5)


def test_widths_follow_expansion_and_residual():
  _, variables = _init(_head(kind="ffn", out_dim=OUT, expansion=2.0,
                                  residual=True))
  shapes = jax.tree.map(np.shape, _params(variables))
  assert shapes["up"]["kernel"] == (IN, 2 * IN)
  assert shapes["down"]["kernel"] == (2 * IN, OUT)
  assert shapes["residual"] == {"kernel": (IN, OUT)}  # bias-free
  _, linear = _init(_head(out_dim=OUT))
  assert jax.tree.map(np.shape, _params(linear)) == {
      "linear": {"kernel": (IN, OUT)}}  # bias-free, as ColBERT's


@pytest.mark.parametrize("kind", ["ffn", "glu"])
def test_zero_path_plus_residual_is_the_linear_head(kind):
  model, variables = _init(_head(kind=kind, out_dim=OUT, expansion=2.0,
                                      residual=True, zero_init=True))
  linear, _ = _init(_head(out_dim=OUT))
  w_r = variables["params"]["residual"]["kernel"]
  x = _states(seed=7)
  expected = linear.apply({"params": {"linear": {"kernel": w_r}}}, x)
  np.testing.assert_array_equal(model.apply(variables, x), expected)
  # Without zero_init the FFN path contributes from the start.
  plain, plain_vars = _init(_head(kind=kind, out_dim=OUT, residual=True))
  w_r = plain_vars["params"]["residual"]["kernel"]
  other = linear.apply({"params": {"linear": {"kernel": w_r}}}, x)
  assert np.abs(plain.apply(plain_vars, x) - other).max() > 1e-3


def test_glu_with_a_constant_gate_is_a_linear_ffn():
  glu, variables = _init(_head(kind="glu", out_dim=OUT, expansion=1.5,
                                    activation="silu"))
  p = _params(variables)
  gate = 0.7
  p["gate"] = {"kernel": np.zeros_like(p["gate"]["kernel"]),
               "bias": np.full_like(p["gate"]["bias"], gate)}
  scale = float(jax.nn.silu(gate))
  ffn, _ = _init(_head(kind="ffn", out_dim=OUT, expansion=1.5,
                            activation="identity"))
  linear_ffn = {"up": {"kernel": scale * p["up"]["kernel"],
                       "bias": scale * p["up"]["bias"]},
                "down": p["down"]}
  x = _states(seed=3)
  np.testing.assert_allclose(glu.apply({"params": p}, x),
                             ffn.apply({"params": linear_ffn}, x),
                             rtol=1e-5, atol=1e-6)
  # A gate that depends on x is not linear.
  assert np.abs(glu.apply(variables, x)
                - ffn.apply({"params": linear_ffn}, x)).max() > 1e-3


def test_zero_states_give_finite_gradients():
  model, variables = _init(_head(out_dim=OUT))
  grads = jax.grad(lambda p, x: jnp.sum(model.apply({"params": p}, x)),
                   argnums=(0, 1))(variables["params"], jnp.zeros((1, 2, IN)))
  assert all(np.isfinite(g).all() for g in jax.tree.leaves(grads))


def test_bad_configs_are_refused():
  for make, message in ((lambda: _head("mlp"), "unknown HeadConfig kind"),
                        (lambda: _head("ffn", activation="elu"),
                         "head.activation"),
                        (lambda: _head("glu", expansion=0.0),
                         "expansion must be > 0"),
                        (lambda: _head(out_dim=0), "out_dim must be >= 1"),
                        (lambda: ColBERTConfig(head=3), "a head kind")):
    with pytest.raises(ValueError, match=message):
      make()
  with pytest.raises(TypeError, match="residual"):
    _head("linear", residual=True)  # a linear head has no such option
  model, variables = _init(_head(out_dim=OUT))
  with pytest.raises(ValueError, match=r"\[\.\.\., 24\]"):
    model.apply(variables, jnp.zeros((1, 2, IN + 1)))


def test_registered():
  system = registry.get("colbert_proj")
  assert system.task == "train.tasks.colbert_contrastive:TASK"
  assert system.evaluators == ("train.evaluators.colbert_retrieval:evaluate",)
  model = registry.build("colbert_proj", head="ffn")
  assert isinstance(model, ColBERTHead)
  assert model.cfg.head == FFNHead()
  assert HeadConfig.kinds() == {"ffn": FFNHead, "glu": GLUHead,
                                "linear": type(ColBERTConfig().head)}
  assert colbert.build(ColBERTConfig()).cfg.head.out_dim == 128
