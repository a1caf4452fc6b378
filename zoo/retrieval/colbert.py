"""ColBERT projection heads: linear, FFN and GLU variants, with residuals.

After Clavié et al., "Simple Projection Variants Improve ColBERT Performance"
(arXiv 2510.12327), as PyLate builds them (`models.Dense(in, out,
activation_function, use_residual)`): ColBERT's single bias-free
`Linear(d_model -> 128)` becomes a small network on each token vector,

  linear: y = W x
  ffn:    y = W_o act(W_u x + b_u) + b_o
  glu:    y = W_o (act(W_g x + b_g) * (W_u x + b_u)) + b_o

with an intermediate width of `expansion * input_dim` (upscaled when
expansion > 1) and, with `residual`, a skip path y += W_r x through a
bias-free linear map (the identity when input and output widths agree, as
PyLate's `use_residual`). Every output token vector is L2-normalised.

The encoder under the head is all-MiniLM-L6-v2. By default it stays
frozen, a choice made for a two-core CPU budget: the head is trained on
stored token states (`stdlib_code_search_minilm`) and `ColBERTHead` maps
those states, not text. With `ColBERTConfig.encoder` set, `ColBERT` runs the
encoder too and fine-tunes it with the head from token ids, as the paper
does.
"""

import dataclasses
from typing import Literal

import flax.linen as nn
import jax
from jax import numpy as jnp

from zoo import registry, sharding
from zoo.retrieval.bert import BertConfig, BertEncoder

ACTIVATIONS = {
    "gelu": nn.gelu,
    "relu": nn.relu,
    "silu": nn.silu,
    "tanh": jnp.tanh,
    "identity": lambda x: x,
}


@dataclasses.dataclass(frozen=True)
class HeadConfig:
  """Attributes:

    kind: "linear" (ColBERT's projection), "ffn" (up, activation, down) or
      "glu" (gated: W_o (act(W_g x) * W_u x)).
    out_dim: width of each output token vector.
    expansion: intermediate width of ffn and glu, as a multiple of the input
      width (2.0 upscales 384 -> 768 -> out_dim).
    activation: one of `ACTIVATIONS`.
    residual: add a bias-free linear map of the input to the output.
    zero_init: start the ffn or glu path's last layer at zero, so that with
      `residual` the initial head is the linear head W_r x.
  """

  kind: Literal["linear", "ffn", "glu"] = "linear"
  out_dim: int = 128
  expansion: float = 1.0
  activation: Literal["gelu", "relu", "silu", "tanh", "identity"] = "gelu"
  residual: bool = False
  zero_init: bool = False

  def __post_init__(self):
    if self.kind not in ("linear", "ffn", "glu"):
      raise ValueError(f"head.kind must be linear, ffn or glu, got "
                       f"{self.kind!r}")
    if self.activation not in ACTIVATIONS:
      raise ValueError(f"head.activation must be one of {list(ACTIVATIONS)}, "
                       f"got {self.activation!r}")
    if self.out_dim < 1 or self.expansion <= 0:
      raise ValueError(f"head.out_dim must be >= 1 and head.expansion > 0, "
                       f"got {self.out_dim} and {self.expansion}")
    if self.kind == "linear" and (self.residual or self.zero_init):
      raise ValueError("head: a linear head takes no residual or zero_init")


@dataclasses.dataclass(frozen=True)
class ColBERTConfig:
  """Attributes:

    head: the projection head.
    input_dim: width of the encoder's token states (384 for MiniLM).
    temperature: the contrastive loss divides MaxSim scores by this (PyLate's
      `Contrastive(temperature=...)`).
    encoder: None to train the head on stored (frozen) token states; a BERT
      config to fine-tune that encoder under the head from token ids.
    pretrained: start the encoder from all-MiniLM-L6-v2's weights.
  """

  head: HeadConfig = HeadConfig()
  input_dim: int = 384
  temperature: float = 0.02
  encoder: BertConfig | None = None
  pretrained: bool = True

  def __post_init__(self):
    if self.temperature <= 0:
      raise ValueError(f"model.temperature must be > 0, got "
                       f"{self.temperature}")
    if self.encoder is not None and self.encoder.hidden != self.input_dim:
      raise ValueError(f"model.input_dim ({self.input_dim}) must equal the "
                       f"encoder's hidden width ({self.encoder.hidden})")


def _dense(features: int, axes: tuple[str | None, str | None], name: str, *,
           bias: bool = True, zero: bool = False) -> nn.Dense:
  kernel = (nn.initializers.zeros_init() if zero else
            nn.initializers.lecun_normal())
  return nn.Dense(
      features, use_bias=bias, name=name,
      kernel_init=nn.with_logical_partitioning(kernel, axes),
      bias_init=nn.with_logical_partitioning(nn.initializers.zeros_init(),
                                             axes[1:]))


def normalize(x: jax.Array, eps: float = 1e-12) -> jax.Array:
  """x / max(|x|, eps) over the last axis, with finite gradients at x = 0."""
  sq = jnp.sum(jnp.square(x), axis=-1, keepdims=True)
  return x * jax.lax.rsqrt(jnp.maximum(sq, eps * eps))


class ColBERTHead(nn.Module):
  """Token states [batch, length, input_dim] -> unit vectors [.., out_dim]."""

  cfg: ColBERTConfig

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    cfg, head = self.cfg, self.cfg.head
    if x.shape[-1] != cfg.input_dim:
      raise ValueError(f"ColBERTHead: expected token states [..., "
                       f"{cfg.input_dim}], got shape {x.shape}")
    x = nn.with_logical_constraint(
        x, (sharding.BATCH, sharding.LENGTH, sharding.EMBED))
    out = (sharding.EMBED, None)
    if head.kind == "linear":
      return normalize(_dense(head.out_dim, out, "linear", bias=False)(x))
    width = max(1, round(head.expansion * cfg.input_dim))
    up = (sharding.EMBED, sharding.MLP)
    act = ACTIVATIONS[head.activation]
    h = _dense(width, up, "up")(x)
    if head.kind == "glu":
      h = act(_dense(width, up, "gate")(x)) * h
    else:
      h = act(h)
    y = _dense(head.out_dim, (sharding.MLP, None), "down",
               zero=head.zero_init)(h)
    if head.residual:
      y = y + (x if cfg.input_dim == head.out_dim else
               _dense(head.out_dim, out, "residual", bias=False)(x))
    return normalize(y)

  def encode(self, states: jax.Array, mask: jax.Array, side: str
             ) -> tuple[jax.Array, jax.Array]:
    """The vectors a text is scored with: (unit vectors, their mask).

    ColBERT keeps one vector per token on both sides; models that pool or
    cluster them (CRISP) override this with the same signature.
    """
    del side
    return self(states), mask


class ColBERT(nn.Module):
  """Encoder and head, trained together: token ids -> unit token vectors."""

  cfg: ColBERTConfig

  def setup(self):
    self.encoder = BertEncoder(self.cfg.encoder)
    self.head = ColBERTHead(self.cfg)

  def __call__(self, ids: jax.Array, mask: jax.Array) -> jax.Array:
    """ids, mask [B, L] -> [B, L, out_dim] unit vectors."""
    return self.head(self.encoder(ids, mask.astype(jnp.int32)))

  def encode(self, ids: jax.Array, mask: jax.Array, side: str
             ) -> tuple[jax.Array, jax.Array]:
    del side
    return self(ids, mask), mask


def build(cfg: ColBERTConfig) -> nn.Module:
  return ColBERTHead(cfg) if cfg.encoder is None else ColBERT(cfg)


SYSTEM = registry.System(
    name="colbert_proj",
    family="retrieval",
    paper="Simple Projection Variants Improve ColBERT Performance",
    summary="ColBERT heads beyond one linear map (FFN, GLU, residual) on "
            "frozen MiniLM token states, trained through MaxSim.",
    default_config=ColBERTConfig,
    builder=build,
    configs=("train.configs.colbert_proj:get_config",),
    task="train.tasks.colbert_contrastive:TASK",
    evaluators=("train.evaluators.colbert_retrieval:evaluate",),
    claim="eval.claims.colbert_proj:check",
    ranker="train.store.heads:ranker_for",
    datasets=("train.data.builders.stdlib_code_search:StdlibCodeSearch",
              "train.data.builders.stdlib_code_search_minilm:"
              "StdlibCodeSearchMinilm"),
)
