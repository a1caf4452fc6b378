"""DLRM-lite: compressed embeddings, pairwise dot interactions, a top MLP;
and the record of the embedding-compression benchmark.

logit = MLP([flatten(e), e_a . e_b for a < b]) for e = the F field vectors
(DLRM without dense features, so no bottom MLP).
"""

import dataclasses

import flax.linen as nn
import numpy as np
from jax import numpy as jnp

from zoo import registry, sharding
from zoo.vq.embedding_compression.embedding import CompressedEmbedding
from zoo.vq.embedding_compression.methods import CompressionConfig
from zoo.vq.embedding_compression.methods.full import Full


@dataclasses.dataclass(frozen=True)
class DLRMConfig:
  """Attributes:

    num_fields: F categorical fields.
    ids_per_field: ids of each field.
    dim: d, the embedding width (16 in the artifact).
    compression: the method and its budget; a kind's tag stands for its
      defaults.
    top_mlp: hidden widths of the top MLP.
  """

  num_fields: int = 8
  ids_per_field: int = 50_000
  dim: int = 16
  compression: CompressionConfig = Full()
  top_mlp: tuple[int, ...] = (64, 32)

  def __post_init__(self):
    if isinstance(self.compression, str):
      object.__setattr__(self, "compression",
                         CompressionConfig.of_kind(self.compression)())
    if not isinstance(self.compression, CompressionConfig):
      raise ValueError("compression must be a method kind's config "
                       f"(zoo.vq.embedding_compression.methods), got "
                       f"{self.compression!r}")
    for name in ("num_fields", "ids_per_field", "dim"):
      if getattr(self, name) < 1:
        raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")


class DLRMLite(nn.Module):
  """ids [batch, fields] -> click logits [batch]."""

  cfg: DLRMConfig

  def embedding(self) -> CompressedEmbedding:
    cfg = self.cfg
    return CompressedEmbedding(cfg.compression, cfg.num_fields,
                               cfg.ids_per_field, cfg.dim, name="embedding")

  @nn.compact
  def __call__(self, ids):
    e = self.embedding()(ids)  # [B, F, d]
    f = self.cfg.num_fields
    a, b = jnp.triu_indices(f, k=1)
    dots = jnp.einsum("bfd,bgd->bfg", e, e)[:, a, b]  # [B, F(F-1)/2]
    x = jnp.concatenate([e.reshape(e.shape[0], -1), dots], axis=-1)
    axes = (sharding.EMBED, sharding.MLP)
    for i, width in enumerate(self.cfg.top_mlp):
      x = nn.relu(nn.Dense(width, name=f"top{i}", kernel_init=(
          nn.with_logical_partitioning(nn.initializers.lecun_normal(),
                                       axes)))(x))
    return nn.Dense(1, name="logit")(x)[:, 0]


def build(cfg: DLRMConfig) -> DLRMLite:
  cfg.compression.param_bytes(CompressedEmbedding(
      cfg.compression, cfg.num_fields, cfg.ids_per_field, cfg.dim).spec)
  return DLRMLite(cfg)


def param_bytes(cfg: DLRMConfig) -> int:
  """Stored bytes of the model's embedding table."""
  return CompressedEmbedding(cfg.compression, cfg.num_fields,
                             cfg.ids_per_field, cfg.dim).param_bytes()


def finalize(cfg: DLRMConfig, variables: dict) -> dict:
  """The model's variables as stored after training (the method's
  `finalize` on the embedding's variables)."""
  spec = CompressedEmbedding(cfg.compression, cfg.num_fields,
                             cfg.ids_per_field, cfg.dim).spec
  inner = {c: tree["embedding"] for c, tree in variables.items()
           if "embedding" in tree}
  done = cfg.compression.finalize(inner, spec)
  out = dict(variables)
  for collection, tree in done.items():
    out[collection] = {**variables.get(collection, {}), "embedding": tree}
  return out


def with_frequencies(variables: dict, train_ids: np.ndarray) -> dict:
  """`variables` with the popularity ranks of the ids counted in
  `train_ids` [rows, fields] (ties to the lower id), for the kinds that
  read frequency; unchanged if the model keeps none."""
  if "frequency" not in variables:
    return variables
  fields = train_ids.shape[1]
  size = variables["frequency"]["embedding"]["rank"].shape[0] // fields
  ranks = np.empty((fields, size), np.int32)
  for f in range(fields):
    counts = np.bincount(train_ids[:, f], minlength=size)
    ranks[f, np.argsort(-counts, kind="stable")] = np.arange(size)
  return {**variables, "frequency": {"embedding": {
      "rank": jnp.asarray(ranks.reshape(-1))}}}


SYSTEM = registry.System(
    name="embedding_compression",
    family="vq",
    paper="Experimental Analysis of Large-scale Learnable Vector Storage "
          "Compression (VLDB 2024)",
    summary="Twelve embedding-table compressions (hash, QR, TT-Rec, ROBE, "
            "DHE, DPQ, MGQE, MDE, PEP, INT8/16, ALPT) behind one lookup, "
            "in DLRM-lite on Zipfian CTR logs, at 2x/16x/64x budgets.",
    default_config=DLRMConfig,
    builder=build,
    configs=("train.configs.embedding_compression:get_config",),
    task="train.tasks.ctr_bce:TASK",
    evaluators=("train.evaluators.ctr_auc:evaluate",),
    claim="eval.claims.embedding_compression:check",
    datasets=("train.data.builders.zipf_ctr:ZipfCtr",),
)
