"""Trained `colbert_proj` heads: rankers and the `colbert_retrieval` evaluator.

A head is trained on frozen all-MiniLM-L6-v2 token states, so ranking with
it means: MiniLM token states of queries (cut to the task's 32 tokens) and
documents (256), projected through the head, scored by MaxSim. From text
(`trained_ranker`, for `python -m eval retrieval --system colbert`) the
states are computed here; from the stored `stdlib_code_search_minilm` states
(the evaluator, the claim check) they are read.

The evaluator ranks a split's queries against that split's own functions
(query i's only relevant document is function i), e.g. 521 validation
queries against the 521 validation functions.
"""

import dataclasses
import functools
import pathlib

import jax
import numpy as np
from jax import numpy as jnp
from jax.experimental import multihost_utils

from eval.retrieval import main as retrieval_main
from eval.retrieval import metrics, rankers
from train import loop
from train.data import sources
from train.tasks import colbert_contrastive
from zoo import sharding
from zoo.retrieval import colbert

DATASET = "stdlib_code_search_minilm"
# Rows per projection call (fixed, so each token length compiles once).
_PROJECT_ROWS = 64
# Documents per MaxSim call, sorted by length and trimmed to the longest.
_DOC_CHUNK = 256


@functools.partial(jax.jit, static_argnums=0)
def _project(model: colbert.ColBERTHead, variables, states):
  return model.apply(variables, states)


@dataclasses.dataclass(frozen=True, eq=False)
class TrainedHead:
  """A restored head: `project` maps token states to unit vectors."""

  model: colbert.ColBERTHead
  variables: dict

  def project(self, states: np.ndarray) -> np.ndarray:
    """[N, L, input_dim] states -> [N, L, out_dim] float32 unit vectors."""
    states = np.asarray(states, np.float32)
    pad = -len(states) % _PROJECT_ROWS
    padded = np.pad(states, ((0, pad), (0, 0), (0, 0)))
    out = [np.asarray(_project(self.model, self.variables,
                               jnp.asarray(padded[i:i + _PROJECT_ROWS])))
           for i in range(0, len(padded), _PROJECT_ROWS)]
    return np.concatenate(out)[:len(states)]


def restore(workdir: str | pathlib.Path, step: int | None = None
            ) -> TrainedHead:
  """The head of a trained colbert_proj run, on one device."""
  run, state, _ = loop.load(workdir, step, mesh=sharding.MeshConfig(data=1),
                            devices=jax.devices()[:1])
  return TrainedHead(run.model, run.variables(state))


def rank_tokens(q: np.ndarray, q_mask: np.ndarray, d: np.ndarray,
                d_mask: np.ndarray, depth: int = 100) -> np.ndarray:
  """Top documents by MaxSim, trimming padding first.

  Args:
    q: [Q, Lq, D] unit query token vectors; q_mask: [Q, Lq] bool.
    d: [N, Ld, D] unit document token vectors; d_mask: [N, Ld] bool. Real
      tokens come first in every row.
    depth: documents kept per query.

  Returns:
    [Q, min(depth, N)] document indices, best first, ties to the lower index.
  """
  q_len = max(1, int(q_mask.sum(1).max()))
  lengths = d_mask.sum(1)
  order = np.argsort(lengths, kind="stable")
  chunks = []
  for start in range(0, len(order), _DOC_CHUNK):
    rows = order[start:start + _DOC_CHUNK]
    width = -(-max(1, int(lengths[rows].max())) // 8) * 8
    chunks.append((d[rows, :width], d_mask[rows, :width]))
  scores = rankers.TokenVectors(chunks, order).scores(q[:, :q_len],
                                                      q_mask[:, :q_len])
  return rankers.top_indices(scores, depth)


def own_pool_rankings(top: np.ndarray) -> tuple[dict, dict]:
  """(rankings, qrels) for queries whose relevant document has their index."""
  ids = [str(i) for i in range(len(top))]
  rankings = {ids[i]: [ids[j] for j in row] for i, row in enumerate(top)}
  return rankings, {i: {i} for i in ids}


def rank_features(head: TrainedHead, features: dict[str, np.ndarray],
                  depth: int = 100) -> np.ndarray:
  """Ranks a split's queries against its own code: `prepare`d features."""
  return rank_tokens(head.project(features["query"]), features["query_mask"],
                     head.project(features["code"]), features["code_mask"],
                     depth)


def feature_split(split: str, data_dir: str | None = None
                  ) -> tuple[list[str], dict[str, np.ndarray]]:
  """(keys [N], prepared features) of one split of the stored states."""
  source = sources.data_source(DATASET, split, data_dir)
  records = source.__getitems__(range(len(source)))
  features = colbert_contrastive.prepare(
      {f: np.stack([r[f] for r in records])
       for f in ("query_states", "query_length", "code_states",
                 "code_length")})
  return [r["key"].decode() for r in records], features


def trained_ranker(workdir: str | pathlib.Path, depth: int = 100
                   ) -> rankers.Ranker:
  """A ranker over texts with the head trained in `workdir`."""
  from zoo.retrieval import minilm  # noqa: PLC0415

  head = restore(workdir)
  encoder = minilm.load(colbert_contrastive.DOC_LEN)

  def rank(rset):
    docs = rankers.token_vectors(encoder, rset.docs, head.project)
    q, q_mask = encoder.encode_tokens(rset.queries)
    q_len = colbert_contrastive.QUERY_LEN
    q = rankers.project_tokens(q[:, :q_len], head.project)
    return rankers.top_indices(docs.scores(q, q_mask[:, :q_len]), depth)
  return rank


def evaluate(model, variables, batches, workdir=None) -> dict[str, float]:
  """Ranking metrics of the eval split's queries against its own code.

  `batches` hold the split's prepared pairs ("query", "code", their masks
  and the row "mask"). Returns nDCG@10, MRR@10, Recall@{2,10,100} and
  num_queries; with a workdir, also writes recall_at_k.png there.
  """
  parts = {k: [] for k in ("query", "query_mask", "code", "code_mask")}
  for batch in batches:
    valid = np.asarray(multihost_utils.process_allgather(batch["mask"],
                                                         tiled=True))
    for name in parts:
      value = batch[name]
      if not name.endswith("mask"):
        value = _project(model, variables, value)
      parts[name].append(np.asarray(multihost_utils.process_allgather(
          value, tiled=True))[valid])
  tokens = {k: np.concatenate(v) for k, v in parts.items()}
  top = rank_tokens(tokens["query"], tokens["query_mask"], tokens["code"],
                    tokens["code_mask"])
  rankings, qrels = own_pool_rankings(top)
  out = metrics.summarize(metrics.evaluate(rankings, qrels))
  if workdir is not None and jax.process_index() == 0:
    retrieval_main.plot_recall(
        {"trained head": retrieval_main.recall_curve(rankings, qrels)},
        f"{len(qrels)} queries vs their split's {len(qrels)} functions",
        pathlib.Path(workdir) / "recall_at_k.png")
  return {**out, "num_queries": len(qrels)}
