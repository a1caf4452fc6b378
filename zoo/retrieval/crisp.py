"""CRISP: multi-vector representations clustered during training.

After Veneroso et al., "CRISP: Clustering Multi-Vector Representations for
Denoising and Pruning" (arXiv 2505.11471). The ColBERT head's token vectors
of each text are clustered with k-means (`ops.cluster_tokens`: fixed
iterations, deterministic farthest-point init, assignments without
gradient), and the text is scored by MaxSim between the cluster means, in
training as at inference. Fixed counts ("C4x8": 4 query and 8 document
clusters) or relative ("R2": ceil(tokens / 2) clusters per text).

As with `colbert_proj`, the MiniLM encoder underneath stays frozen (a CPU
budget choice; the paper trains a Gemma backbone).
"""

import dataclasses

import flax.linen as nn
import jax

import ops
from zoo import registry
from zoo.retrieval.colbert import ColBERTConfig, ColBERTHead


@dataclasses.dataclass(frozen=True)
class CRISPConfig:
  """Attributes:

    colbert: the head and loss temperature underneath.
    query_clusters, doc_clusters: fixed cluster counts (capped by the
      number of tokens); ignored when `ratio` > 0.
    ratio: relative mode: ceil(tokens / ratio) clusters on both sides.
    iters: Lloyd iterations.
  """

  colbert: ColBERTConfig = ColBERTConfig()
  query_clusters: int = 4
  doc_clusters: int = 8
  ratio: int = 0
  iters: int = 10

  def __post_init__(self):
    if self.ratio < 0 or self.iters < 0 or min(self.query_clusters,
                                               self.doc_clusters) < 1:
      raise ValueError("crisp: clusters must be >= 1 and ratio, iters >= 0, "
                       f"got {self.query_clusters}, {self.doc_clusters}, "
                       f"{self.ratio}, {self.iters}")

  @property
  def temperature(self) -> float:
    return self.colbert.temperature


class CRISP(nn.Module):
  """A ColBERT head whose per-text vectors are k-means centroids."""

  cfg: CRISPConfig

  def setup(self):
    self.head = ColBERTHead(self.cfg.colbert)

  def __call__(self, states: jax.Array) -> jax.Array:
    """Token states [B, L, input_dim] -> unit token vectors [B, L, out]."""
    return self.head(states)

  def encode(self, states: jax.Array, mask: jax.Array, side: str
             ) -> tuple[jax.Array, jax.Array]:
    """([B, K, out] centroids, [B, K] mask) of each text's token vectors."""
    cfg = self.cfg
    if cfg.ratio:
      return ops.cluster_tokens(self(states), mask, ratio=cfg.ratio,
                                iters=cfg.iters)
    k = cfg.query_clusters if side == "query" else cfg.doc_clusters
    return ops.cluster_tokens(self(states), mask, num_clusters=k,
                              iters=cfg.iters)


def build(cfg: CRISPConfig) -> CRISP:
  return CRISP(cfg)


SYSTEM = registry.System(
    name="crisp",
    family="retrieval",
    paper="CRISP: Clustering Multi-Vector Representations for Denoising and "
          "Pruning",
    summary="Per-text k-means of ColBERT token vectors, in training and at "
            "inference: fewer vectors per document.",
    default_config=CRISPConfig,
    builder=build,
    configs=("train.configs.crisp:get_config",),
    task="train.tasks.colbert_contrastive:TASK",
    evaluators=("train.evaluators.colbert_retrieval:evaluate",),
    claim="eval.claims.crisp:check",
    ranker="train.store.heads:ranker_for",
    datasets=("train.data.builders.stdlib_code_search_minilm:"
              "StdlibCodeSearchMinilm",),
)
