"""A BERT encoder (post-LN transformer) returning the last hidden states.

The module mirrors Hugging Face's `BertModel` without the pooler, so its
parameters map one-to-one onto a checkpoint of that model: each submodule
is named after the checkpoint module it loads from (`query` <-
`attention.self.query`, `attention_output` <- `attention.output.dense`,
`output_layer_norm` <- `output.LayerNorm`, ...; see `zoo.retrieval.minilm`).
Inference only: there is no dropout.
"""

import dataclasses
import json
import os
from typing import Any

import flax.linen as nn
import jax
from jax import numpy as jnp

from zoo import sharding
from zoo.errors import ConfigError


@dataclasses.dataclass(frozen=True)
class BertConfig:
  """Attributes:

    vocab_size: number of word pieces.
    hidden: width of the residual stream.
    layers: number of transformer layers.
    heads: attention heads; `hidden` must be divisible by it.
    intermediate: width of the feed-forward hidden layer.
    max_position: number of learned position embeddings (longest input).
    type_vocab: number of token types (segments).
    layer_norm_eps: epsilon of every LayerNorm.
    dtype: name of the computation dtype, "float32" or "bfloat16"
      (parameters stay float32); a string so configs serialise as JSON.
  """

  vocab_size: int = 30522
  hidden: int = 384
  layers: int = 6
  heads: int = 12
  intermediate: int = 1536
  max_position: int = 512
  type_vocab: int = 2
  layer_norm_eps: float = 1e-12
  dtype: str = "float32"

  def __post_init__(self):
    if self.hidden % self.heads:
      raise ConfigError(f"BertConfig: hidden={self.hidden} is not divisible "
                        f"by heads={self.heads}")
    if self.dtype not in ("float32", "bfloat16"):
      raise ConfigError(f"BertConfig: dtype must be float32 or bfloat16, got "
                        f"{self.dtype!r}")

  @property
  def compute_dtype(self):
    return jnp.dtype(self.dtype)

  @classmethod
  def from_hf_json(cls, path: str | os.PathLike, **overrides) -> "BertConfig":
    """Reads a Hugging Face `config.json` of a `BertModel`.

    Args:
      path: the config.json file.
      **overrides: fields to replace, e.g. `dtype="bfloat16"`.

    Raises:
      ConfigError: the file describes a model this encoder cannot run
        (another activation or position embedding type).
    """
    with open(path) as f:
      hf = json.load(f)
    unsupported = {
        "hidden_act": ("gelu", hf.get("hidden_act", "gelu")),
        "position_embedding_type": (
            "absolute", hf.get("position_embedding_type", "absolute")),
    }
    for key, (want, got) in unsupported.items():
      if got != want:
        raise ConfigError(f"{path}: {key}={got!r} is not supported "
                          f"(only {want!r})")
    fields = dict(
        vocab_size=hf["vocab_size"], hidden=hf["hidden_size"],
        layers=hf["num_hidden_layers"], heads=hf["num_attention_heads"],
        intermediate=hf["intermediate_size"],
        max_position=hf["max_position_embeddings"],
        type_vocab=hf["type_vocab_size"],
        layer_norm_eps=hf["layer_norm_eps"])
    return cls(**{**fields, **overrides})


def _init(axes: tuple[str | None, ...], zeros: bool = False):
  """BERT's initializers (normal(0.02) weights, zero biases), annotated."""
  init = nn.initializers.zeros_init() if zeros else nn.initializers.normal(
      0.02)
  return nn.with_logical_partitioning(init, axes)


def _layer_norm(cfg: BertConfig, name: str) -> nn.LayerNorm:
  return nn.LayerNorm(
      epsilon=cfg.layer_norm_eps, dtype=cfg.compute_dtype, name=name,
      scale_init=nn.with_logical_partitioning(
          nn.initializers.ones_init(), (sharding.EMBED,)),
      bias_init=_init((sharding.EMBED,), zeros=True))


def _constrain(x: jax.Array) -> jax.Array:
  return nn.with_logical_constraint(
      x, (sharding.BATCH, sharding.LENGTH, sharding.EMBED))


class BertEmbeddings(nn.Module):
  """Word + position + token-type embeddings, then LayerNorm."""

  cfg: BertConfig

  @nn.compact
  def __call__(self, input_ids: jax.Array, token_type_ids: jax.Array
               ) -> jax.Array:
    cfg = self.cfg
    def embed(num, axis, name):
      return nn.Embed(num, cfg.hidden, dtype=cfg.compute_dtype, name=name,
                      embedding_init=_init((axis, sharding.EMBED)))
    positions = jnp.arange(input_ids.shape[1])[None, :]
    x = (embed(cfg.vocab_size, sharding.VOCAB, "word_embeddings")(input_ids)
         + embed(cfg.max_position, None, "position_embeddings")(positions)
         + embed(cfg.type_vocab, None, "token_type_embeddings")(
             token_type_ids))
    return _layer_norm(cfg, "layer_norm")(_constrain(x))


class HeadDense(nn.Module):
  """A dense layer whose kernel keeps the heads axis: an einsum plus bias.

  (`nn.DenseGeneral` initialises a flat kernel and reshapes it, which breaks
  logical partitioning by (heads, kv) names under a mesh.)

  Attributes:
    equation: einsum of input and kernel, e.g. "bld,dhk->blhk".
    shape: the kernel's shape; the bias has its last `out_axes` dims.
    axes: the kernel's logical axis names.
    out_axes: how many trailing kernel axes are output axes.
    dtype: dtype of the computation.
  """

  equation: str
  shape: tuple[int, ...]
  axes: tuple[str | None, ...]
  out_axes: int
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    kernel = self.param("kernel", _init(self.axes), self.shape)
    bias = self.param("bias", _init(self.axes[-self.out_axes:], True),
                      self.shape[-self.out_axes:])
    x, kernel, bias = nn.dtypes.promote_dtype(x, kernel, bias,
                                              dtype=self.dtype)
    return jnp.einsum(self.equation, x, kernel) + bias


class BertLayer(nn.Module):
  """Post-LN layer: x + attention -> LN -> x + MLP -> LN."""

  cfg: BertConfig

  @nn.compact
  def __call__(self, x: jax.Array, mask: jax.Array) -> jax.Array:
    """x [batch, len, hidden], mask [batch, len] bool -> [batch, len, hidden].
    """
    cfg = self.cfg
    head_dim = cfg.hidden // cfg.heads
    qkv_axes = (sharding.EMBED, sharding.HEADS, sharding.KV)
    q, k, v = (nn.with_logical_constraint(
        HeadDense("bld,dhk->blhk", (cfg.hidden, cfg.heads, head_dim),
                  qkv_axes, 2, cfg.compute_dtype, name=name)(x),
        (sharding.BATCH, sharding.LENGTH, sharding.HEADS, sharding.KV))
               for name in ("query", "key", "value"))
    scores = jnp.einsum("bqhd,bkhd->bhqk", q, k) * head_dim**-0.5
    scores = jnp.where(mask[:, None, None, :], scores.astype(jnp.float32),
                       jnp.finfo(jnp.float32).min)
    probs = jax.nn.softmax(scores, axis=-1).astype(cfg.compute_dtype)
    context = jnp.einsum("bhqk,bkhd->bqhd", probs, v)
    attended = HeadDense(
        "blhk,hkd->bld", (cfg.heads, head_dim, cfg.hidden),
        (sharding.HEADS, sharding.KV, sharding.EMBED), 1, cfg.compute_dtype,
        name="attention_output")(context)
    x = _layer_norm(cfg, "attention_layer_norm")(_constrain(x + attended))

    h = nn.Dense(cfg.intermediate, dtype=cfg.compute_dtype, name="intermediate",
                 kernel_init=_init((sharding.EMBED, sharding.MLP)),
                 bias_init=_init((sharding.MLP,), True))(x)
    h = nn.with_logical_constraint(
        nn.gelu(h, approximate=False),
        (sharding.BATCH, sharding.LENGTH, sharding.MLP))
    h = nn.Dense(cfg.hidden, dtype=cfg.compute_dtype, name="output",
                 kernel_init=_init((sharding.MLP, sharding.EMBED)),
                 bias_init=_init((sharding.EMBED,), True))(h)
    return _layer_norm(cfg, "output_layer_norm")(_constrain(x + h))


class BertEncoder(nn.Module):
  """Token ids -> last hidden states.

  Parameters: `embeddings/...` and `layer_0` ... `layer_{layers-1}`.
  """

  cfg: BertConfig

  @nn.compact
  def __call__(self, input_ids: jax.Array, attention_mask: jax.Array,
               token_type_ids: jax.Array | None = None) -> jax.Array:
    """Encodes a padded batch.

    Args:
      input_ids: [batch, len] int word-piece ids.
      attention_mask: [batch, len], nonzero at real tokens; padding keys are
        ignored by attention (padding positions still get outputs).
      token_type_ids: [batch, len] int segment ids; zeros if None.

    Returns:
      [batch, len, hidden] the last layer's hidden states.
    """
    if input_ids.shape[1] > self.cfg.max_position:
      raise ValueError(
          f"input_ids: length {input_ids.shape[1]} exceeds max_position="
          f"{self.cfg.max_position}")
    if attention_mask.shape != input_ids.shape:
      raise ValueError(f"attention_mask: expected shape {input_ids.shape}, "
                       f"got {attention_mask.shape}")
    if token_type_ids is None:
      token_type_ids = jnp.zeros_like(input_ids)
    x = BertEmbeddings(self.cfg, name="embeddings")(input_ids, token_type_ids)
    mask = attention_mask.astype(bool)
    for i in range(self.cfg.layers):
      x = BertLayer(self.cfg, name=f"layer_{i}")(x, mask)
    return x
