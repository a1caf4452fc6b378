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
from train import loop, tasks
from train.data import sources
from train.tasks import colbert_contrastive
from zoo import sharding
from zoo.retrieval import colbert

DATASET = "stdlib_code_search_minilm"
# Rows per projection call (fixed, so each token length compiles once).
_PROJECT_ROWS = 64
# Documents per MaxSim call, sorted by length and trimmed to the longest.
_DOC_CHUNK = 256


@functools.partial(jax.jit, static_argnums=(0, 4))
def _encode(model, variables, states, mask, side: str):
  return model.apply(variables, states, mask, side, method="encode")


@dataclasses.dataclass(frozen=True, eq=False)
class TrainedHead:
  """A restored model; `encode` maps token states to the scored vectors."""

  model: colbert.ColBERTHead
  variables: dict
  task: tasks.Task

  def encode(self, states: np.ndarray, mask: np.ndarray, side: str
             ) -> tuple[np.ndarray, np.ndarray]:
    """Model inputs [N, L, ...] (token states, or token ids when the encoder
    trains) and [N, L] mask -> ([N, K, out_dim] float32 vectors, [N, K]
    mask); K = L for ColBERT, clusters for CRISP."""
    states = np.asarray(states)
    if np.issubdtype(states.dtype, np.floating):
      states = states.astype(np.float32)
    pad = -len(states) % _PROJECT_ROWS
    states = np.pad(states, ((0, pad),) + ((0, 0),) * (states.ndim - 1))
    mask = np.pad(np.asarray(mask, bool), ((0, pad), (0, 0)))
    parts = [_encode(self.model, self.variables,
                     jnp.asarray(states[i:i + _PROJECT_ROWS]),
                     jnp.asarray(mask[i:i + _PROJECT_ROWS]), side)
             for i in range(0, len(states), _PROJECT_ROWS)]
    vectors, masks = (np.concatenate([np.asarray(p[j]) for p in parts])
                      for j in (0, 1))
    n = len(states) - pad
    return vectors[:n].astype(np.float32), masks[:n]


def restore(workdir: str | pathlib.Path, step: int | None = None
            ) -> TrainedHead:
  """The head of a trained colbert_proj run, on one device."""
  run, state, _ = loop.load(workdir, step, mesh=sharding.MeshConfig(data=1),
                            devices=jax.devices()[:1])
  return TrainedHead(run.model, run.variables(state), run.task)


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
  q_len = _width(q_mask).max(initial=1)
  q, q_mask = q[:, :q_len], q_mask[:, :q_len]
  lengths = _width(d_mask)
  order = np.argsort(lengths, kind="stable")
  chunks = []
  for start in range(0, len(order), _DOC_CHUNK):
    rows = order[start:start + _DOC_CHUNK]
    width = -(-max(1, int(lengths[rows].max())) // 8) * 8
    chunks.append((d[rows, :width], d_mask[rows, :width]))
  scores = rankers.TokenVectors(chunks, order).scores(q, q_mask)
  return rankers.top_indices(scores, depth)


def _width(mask: np.ndarray) -> np.ndarray:
  """Per row, one past the last True position (0 for an empty row)."""
  last = mask.shape[1] - np.argmax(mask[:, ::-1], axis=1)
  return np.where(mask.any(1), last, 0)


def own_pool_rankings(top: np.ndarray) -> tuple[dict, dict]:
  """(rankings, qrels) for queries whose relevant document has their index."""
  ids = [str(i) for i in range(len(top))]
  rankings = {ids[i]: [ids[j] for j in row] for i, row in enumerate(top)}
  return rankings, {i: {i} for i in ids}


def rank_features(head: TrainedHead, features: dict[str, np.ndarray],
                  depth: int = 100) -> np.ndarray:
  """Ranks a split's queries against its own code: `prepare`d features."""
  q, q_mask = head.encode(features["query"], features["query_mask"], "query")
  d, d_mask = head.encode(features["code"], features["code_mask"], "doc")
  return rank_tokens(q, q_mask, d, d_mask, depth)


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
  from_text = "query" in head.task.features  # the encoder trained too

  def inputs(texts, name):
    if from_text:
      prepared = head.task.prepare({name: texts})
      return prepared[name], prepared[f"{name}_mask"]
    states, mask = minilm.load(colbert_contrastive.DOC_LEN).encode_tokens(
        texts)
    length = (colbert_contrastive.QUERY_LEN if name == "query" else
              colbert_contrastive.DOC_LEN)
    return states[:, :length], mask[:, :length]

  def rank(rset):
    q, q_mask = head.encode(*inputs(rset.queries, "query"), "query")
    d, d_mask = head.encode(*inputs(rset.docs, "code"), "doc")
    return rank_tokens(q, q_mask, d, d_mask, depth)
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
    for name, side in (("query", "query"), ("code", "doc")):
      encoded = _encode(model, variables, batch[name],
                        batch[f"{name}_mask"], side)
      for key, value in zip((name, f"{name}_mask"), encoded):
        parts[key].append(np.asarray(multihost_utils.process_allgather(
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
