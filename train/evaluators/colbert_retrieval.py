"""Ranking metrics of a retrieval head: the eval split's queries against
that split's own code (query i's only relevant document is function i)."""

import pathlib

import jax
import numpy as np
from jax.experimental import multihost_utils

from train import plots
from zoo.retrieval import metrics, rankers


def evaluate(model, variables, batches, workdir=None) -> dict[str, float]:
  """nDCG@10, MRR@10, Recall@{2,10,100} and num_queries.

  `batches` hold the split's prepared pairs ("query", "code", their masks
  and the row "mask"); with a workdir, also writes recall_at_k.png there.
  """
  encoder = rankers.HeadEncoder(model, variables)
  parts = {k: [] for k in ("query", "query_mask", "code", "code_mask")}
  for batch in batches:
    valid = np.asarray(multihost_utils.process_allgather(batch["mask"],
                                                         tiled=True))
    for name, side in (("query", "query"), ("code", "doc")):
      encoded = encoder.encode_batch(batch[name], batch[f"{name}_mask"],
                                     side)
      for key, value in zip((name, f"{name}_mask"), encoded):
        parts[key].append(np.asarray(multihost_utils.process_allgather(
            value, tiled=True))[valid])
  tokens = {k: np.concatenate(v) for k, v in parts.items()}
  top = rankers.rank_tokens(tokens["query"], tokens["query_mask"],
                            tokens["code"], tokens["code_mask"])
  rankings, qrels = metrics.own_pool_rankings(top)
  out = metrics.summarize(metrics.evaluate(rankings, qrels))
  if workdir is not None and jax.process_index() == 0:
    plots.recall_at_k(
        {"trained head": metrics.recall_curve(rankings, qrels)},
        pathlib.Path(workdir) / "recall_at_k.png",
        title=f"{len(qrels)} queries vs their split's {len(qrels)} functions")
  return {**out, "num_queries": len(qrels)}
