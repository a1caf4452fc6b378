"""Retrieval systems: encoders and indexes for single- and multi-vector
search, and LIMIT's experiments on what single vectors can represent."""

from zoo import registry
from zoo.retrieval import colbert, crisp

registry.register(registry.System(
    name="colbert_proj",
    family="retrieval",
    paper="Simple Projection Variants Improve ColBERT Performance",
    default_config=colbert.ColBERTConfig,
    builder=colbert.build,
    configs=("colbert_proj.py",),
    task="colbert_contrastive",
    evaluators=("colbert_retrieval",),
    claim="eval.claims.colbert_proj:check",
    summary="ColBERT heads beyond one linear map (FFN, GLU, residual) on "
            "frozen MiniLM token states, trained through MaxSim.",
))

registry.register(registry.System(
    name="muvera",
    family="retrieval",
    paper="MUVERA: Multi-Vector Retrieval via Fixed Dimensional Encodings",
    claim="eval.claims.muvera:check",
    summary="One fixed-dimensional vector per multi-vector text (ops.fde) "
            "gives candidates; exact MaxSim reranks them.",
))

registry.register(registry.System(
    name="limit",
    family="retrieval",
    paper="On the Theoretical Limitations of Embedding-Based Retrieval "
          "(LIMIT)",
    claim="eval.claims.limit:check",
    summary="LIMIT-small against BM25, single- and multi-vector MiniLM; the "
            "free-embedding critical n against dimension.",
))

registry.register(registry.System(
    name="crisp",
    family="retrieval",
    paper="CRISP: Clustering Multi-Vector Representations for Denoising and "
          "Pruning",
    default_config=crisp.CRISPConfig,
    builder=crisp.build,
    configs=("crisp.py",),
    task="colbert_contrastive",
    evaluators=("colbert_retrieval",),
    claim="eval.claims.crisp:check",
    summary="Per-text k-means of ColBERT token vectors, in training and at "
            "inference: fewer vectors per document.",
))
