"""Observable Propagation (Dunefsky & Cohan, arXiv 2312.16291): feature
vectors found from the weights and an observable, almost without data.

Faithful mechanism, toy scale, synthetic subject: the subject is a 2-layer
attention-only `DecoderLM` (width 64, 4 heads, RoPE, RMSNorm, tied head)
trained on `pronoun_templates`; no GPT-Neo is reachable offline.

An observable is a linear functional n [V] of the logits, here the
she-he logit difference `n = e_she - e_he`. With the final RMSNorm read as
"divide by a scalar" (the paper's LayerNorm theorem: in high dimension a
norm barely turns a feature vector) the logit difference is
`y . (x / rms(x))` for the last residual x, with

    y = gamma_final * (E^T n)                      (tied head; W_U n if not)

Propagating y back through head h of layer l (its OV circuit; attention
weights held fixed, the QK circuit not modelled; RoPE rotates queries and
keys, never values, so it leaves OV alone) gives the head's feature vector
in the space of its input's normalised residual `x_src / rms(x_src)`:

    y_head = gamma_attn(l) * (W_V[h] (W_O[h] y))    W_V [E, Dh], W_O [Dh, E]

so with attention put wholly on one source token the head adds exactly
`y_head . norm(x_src)` to `y . head_output` (tests/zoo/test_obsprop.py). A
path through several heads composes these maps (`path_feature`); an MLP is
linearised at a reference input with `jax.vjp` (`linearised_feature`).
`|y_head|` is the paper's importance score of a head; the feature score of
an activation x is `y . norm(x)`; the coupling coefficient
`C(y1, y2) = <y1, y2> / |y1|^2` is the expected y2 score given y1 score 1
for isotropic x (the slope of y2.x on y1.x).

Choices (ours; the paper's notebooks carry no license and were not read):
- `norm(x)` is the block's own norm without its gain (the gain is folded
  into y): x / sqrt(mean(x^2) + eps) for RMSNorm, centred and divided by
  the std for LayerNorm; biases (a LayerNorm's, the projections' where a
  layout has them) add constants and are left out of the feature vectors.
- A head's feature vector is its direct path to the observable; composed
  paths are available but the claims rank heads by the direct one.
- The LayerNorm theorem is read for RMSNorm: we report cos(J^T y, y), J the
  Jacobian of the unit-gain norm at the subject's real final residuals,
  and test it at width 256 on random inputs (>= 0.95).

Claims (eval/claims/obsprop.py, measured 2026-12-06): both FAIL on the
toy subject. The top head by norm (1.2) reads the gender mostly from
tokens after the name, where layer-0 heads copied it, so its score at the
name gives Spearman 0.542 with the logit difference (0.8 asked; its
attention-weighted score gives 0.877), and its direction has cosine 0.195
to a 2,000-example probe at the name against 0.607 for 8-example probes.
Cos(J^T y, y) of the final RMSNorm at the subject's residuals: mean
0.973, min 0.747 (width 64). The check's docstring has the diagnosis.
"""

from collections.abc import Callable, Sequence

import flax.linen as nn
import jax
from jax import numpy as jnp

from zoo import registry
from zoo.lm import decoder


def subject_config() -> decoder.DecoderConfig:
  """The subject LM: 2 attention-only layers of width 64, 4 heads (the
  train config sets the vocabulary from `pronoun_templates`)."""
  return decoder.DecoderConfig(embed_dim=64, num_layers=2, num_heads=4,
                               mlp_dim=0)


SYSTEM = registry.System(
    name="obsprop",
    family="interp",
    paper="Observable Propagation: Uncovering Feature Vectors in "
          "Transformers",
    summary="Feature vectors for a logit observable from the weights alone: "
            "the final norm's gain times the unembedding, propagated back "
            "through heads' OV circuits (MLPs linearised); norms rank heads, "
            "coupling coefficients compare features.",
    default_config=subject_config,
    builder=decoder.build,
    configs=("train.configs.obsprop:get_config",),
    task="train.tasks.lm_masked_next_token:TASK",
    claim="eval.claims.obsprop:check",
    datasets=("train.data.builders.pronoun_templates:PronounTemplates",),
)


def logit_difference(vocab_size: int, positive: int, negative: int):
  """The observable `logit[positive] - logit[negative]` as n [V]."""
  for name, token in (("positive", positive), ("negative", negative)):
    if not 0 <= token < vocab_size:
      raise ValueError(f"logit_difference: {name} token {token} is outside "
                       f"the vocabulary [0, {vocab_size})")
  return jnp.zeros(vocab_size).at[positive].add(1.0).at[negative].add(-1.0)


def output_feature(params, config: decoder.DecoderConfig, observable):
  """y [E]: the observable n [V] read off the normalised last residual,
  `gamma_final * (W_U n)`."""
  params = nn.meta.unbox(params)
  if observable.shape != (config.vocab_size,):
    raise ValueError(f"output_feature: the observable must be "
                     f"[{config.vocab_size}], got {observable.shape}")
  if config.tied_embeddings:
    read = params["embedding"]["embedding"].T @ observable
  else:
    read = params["head"]["kernel"] @ observable
  return params["final_norm"]["scale"] * read


def _check_head(config, layer, head):
  if not 0 <= layer < config.num_layers:
    raise ValueError(f"obsprop: layer {layer} is outside [0, "
                     f"{config.num_layers})")
  if not 0 <= head < config.num_heads:
    raise ValueError(f"obsprop: head {head} is outside [0, "
                     f"{config.num_heads})")


def head_feature(params, config: decoder.DecoderConfig, layer: int,
                 head: int, y):
  """y [E] (wanted in the residual after `layer`) -> the feature vector
  [E] of head `head` in the normalised residual before `layer`:
  `gamma_attn * (W_V (W_O y))`."""
  _check_head(config, layer, head)
  block = nn.meta.unbox(params)[f"block_{layer}"]
  kv_head = head // (config.num_heads // config.kv_heads)
  w_v = block["attention"]["value"]["kernel"][:, kv_head]  # [E, Dh]
  w_o = block["attention"]["out"]["kernel"][head]  # [Dh, E]
  return block["attention_norm"]["scale"] * (w_v @ (w_o @ y))


def head_features(params, config: decoder.DecoderConfig, y):
  """Every head's direct-path feature vector, [layers, heads, E]."""
  return jnp.stack([
      jnp.stack([head_feature(params, config, layer, head, y)
                 for head in range(config.num_heads)])
      for layer in range(config.num_layers)])


def path_feature(params, config: decoder.DecoderConfig,
                 path: Sequence[tuple[int, int]], y):
  """The feature vector of a path of heads [(layer, head), ...], given
  from the observable's end back (layers strictly decreasing): each head's
  map applied in turn. (Between two heads the norm's scalar is folded in,
  as at the final norm.)"""
  layers = [layer for layer, _ in path]
  if not path or any(a <= b for a, b in zip(layers, layers[1:])):
    raise ValueError(f"path_feature: the path must be non-empty with "
                     f"strictly decreasing layers, got {list(path)}")
  for layer, head in path:
    y = head_feature(params, config, layer, head, y)
  return y


def linearised_feature(fn: Callable[[jax.Array], jax.Array], x, y):
  """`J_fn(x)^T y`: the feature vector y [out] pulled back through `fn`
  (an MLP, a norm) linearised at the reference input x [in]."""
  _, pull_back = jax.vjp(fn, x)
  return pull_back(y.astype(x.dtype))[0]


def normalised(x, config: decoder.DecoderConfig):
  """The blocks' norm without its gain (or bias): [..., E] -> [..., E]."""
  norm = config.block.norm
  if norm.kind == "rms":
    return x * jax.lax.rsqrt(jnp.mean(x * x, -1, keepdims=True) + norm.eps)
  if norm.kind in ("layer", "layer_nobias"):
    x = x - jnp.mean(x, -1, keepdims=True)
    return x * jax.lax.rsqrt(jnp.mean(x * x, -1, keepdims=True) + norm.eps)
  raise ValueError(f"obsprop: no feature score for norm kind {norm.kind!r}")


def feature_score(y, x, config: decoder.DecoderConfig):
  """`y . norm(x)`: y [E], x [..., E] residuals -> [...]."""
  return normalised(x, config) @ y


def coupling(y1, y2):
  """`C(y1, y2) = <y1, y2> / |y1|^2`, the mean y2 score of isotropic
  inputs whose y1 score is 1 (asymmetric, unlike the cosine)."""
  return jnp.dot(y1, y2) / jnp.dot(y1, y1)


def cosine(a, b):
  return jnp.dot(a, b) / (jnp.linalg.norm(a) * jnp.linalg.norm(b))


def norm_jacobian_cosine(x, y, config: decoder.DecoderConfig):
  """cos(J^T y, y) for J the unit-gain norm's Jacobian at x [E]: how far
  the true gradient of `y . norm(x)` turns from y (the LN theorem)."""
  return cosine(linearised_feature(lambda v: normalised(v, config), x, y), y)


def top_head(features) -> tuple[int, int]:
  """(layer, head) whose feature vector [layers, heads, E] is longest."""
  norms = jnp.linalg.norm(features, axis=-1)
  layer, head = jnp.unravel_index(jnp.argmax(norms), norms.shape)
  return int(layer), int(head)
