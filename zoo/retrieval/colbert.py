"""ColBERT projection heads: linear, FFN and GLU variants, with residuals.

After Clavié et al., "Simple Projection Variants Improve ColBERT Performance"
(arXiv 2510.12327), as PyLate builds them (`models.Dense(in, out,
activation_function, use_residual)`): ColBERT's single bias-free
`Linear(d_model -> 128)` becomes a small network on each token vector. The
head kinds are plug-ins (`zoo.retrieval.heads`: `linear`, `ffn`, `glu`);
every output token vector is L2-normalised.

The encoder under the head is all-MiniLM-L6-v2. By default it stays
frozen, a choice made for a two-core CPU budget: the head is trained on
stored token states (`stdlib_code_search_minilm`) and `ColBERTHead` maps
those states, not text. With `ColBERTConfig.encoder` set, `ColBERT` runs the
encoder too and fine-tunes it with the head from token ids, as the paper
does.
"""

import dataclasses

import flax.linen as nn
import jax
from jax import numpy as jnp

from zoo import registry, sharding
from zoo.retrieval.bert import BertConfig, BertEncoder
from zoo.retrieval.heads import HeadConfig
from zoo.retrieval.heads.linear import LinearHead


@dataclasses.dataclass(frozen=True)
class ColBERTConfig:
  """Attributes:

    head: the projection head's kind and settings (`zoo.retrieval.heads`).
    input_dim: width of the encoder's token states (384 for MiniLM).
    temperature: the contrastive loss divides MaxSim scores by this (PyLate's
      `Contrastive(temperature=...)`).
    encoder: None to train the head on stored (frozen) token states; a BERT
      config to fine-tune that encoder under the head from token ids.
    pretrained: start the encoder from all-MiniLM-L6-v2's weights.
  """

  head: HeadConfig = LinearHead()
  input_dim: int = 384
  temperature: float = 0.02
  encoder: BertConfig | None = None
  pretrained: bool = True

  def __post_init__(self):
    if isinstance(self.head, str):  # a kind's tag: its defaults
      object.__setattr__(self, "head", HeadConfig.of_kind(self.head)())
    if not isinstance(self.head, HeadConfig):
      raise ValueError(f"model.head must be a head kind's config "
                       f"(zoo.retrieval.heads), got {self.head!r}")
    if self.temperature <= 0:
      raise ValueError(f"model.temperature must be > 0, got "
                       f"{self.temperature}")
    if self.encoder is not None and self.encoder.hidden != self.input_dim:
      raise ValueError(f"model.input_dim ({self.input_dim}) must equal the "
                       f"encoder's hidden width ({self.encoder.hidden})")


def normalize(x: jax.Array, eps: float = 1e-12) -> jax.Array:
  """x / max(|x|, eps) over the last axis, with finite gradients at x = 0."""
  sq = jnp.sum(jnp.square(x), axis=-1, keepdims=True)
  return x * jax.lax.rsqrt(jnp.maximum(sq, eps * eps))


class ColBERTHead(nn.Module):
  """Token states [batch, length, input_dim] -> unit vectors [.., out_dim]."""

  cfg: ColBERTConfig

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    cfg = self.cfg
    if x.shape[-1] != cfg.input_dim:
      raise ValueError(f"ColBERTHead: expected token states [..., "
                       f"{cfg.input_dim}], got shape {x.shape}")
    x = nn.with_logical_constraint(
        x, (sharding.BATCH, sharding.LENGTH, sharding.EMBED))
    return normalize(cfg.head.project(x, cfg.input_dim))

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
