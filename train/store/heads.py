"""Trained retrieval heads (`colbert_proj`, `crisp`) restored from workdirs.

A head is trained on frozen all-MiniLM-L6-v2 token states, so ranking texts
with it means: MiniLM token states of queries (cut to the task's 32 tokens)
and documents (256), projected through the head, scored by MaxSim. A head
trained with its encoder (`colbert_proj.py:finetune`) reads token ids
instead, prepared by its task; `finetuned(head, seed)` trains one such model
once into the user cache.
"""

import dataclasses
import pathlib

import jax

from train import config as config_lib
from train import loop, store
from train.tasks import Task, colbert_contrastive
from zoo import sharding
from zoo.retrieval import minilm, rankers


@dataclasses.dataclass(frozen=True, eq=False)
class TrainedHead(rankers.HeadEncoder):
  """A restored retrieval model and the task it was trained with."""

  task: Task


def restore(workdir: str | pathlib.Path, step: int | None = None
            ) -> TrainedHead:
  """The head of a trained colbert_proj or crisp run, on one device."""
  run, state, _ = loop.load(workdir, step, mesh=sharding.MeshConfig(data=1),
                            devices=jax.devices()[:1])
  return TrainedHead(run.model, run.variables(state), run.task)


def finetuned(head: str, seed: int) -> pathlib.Path:
  """The workdir of `colbert_proj.py:finetune,<head>,seed=<seed>` (MiniLM
  trained with the head, e.g. head="head=linear"), trained once into
  `<user cache>/colbert_proj`."""
  name = head.replace("=", "-").replace(",", "_")
  return store.run_once(
      lambda: config_lib.load_config(
          f"colbert_proj.py:finetune,{head},seed={seed}", ["mesh.data=1"]),
      store.cache_dir("colbert_proj") / f"finetune_{name}_seed{seed}",
      f"colbert_proj with its encoder ({head}, seed {seed})")


def ranker(head: TrainedHead, depth: int = 100) -> rankers.Ranker:
  """A ranker over texts with a restored head."""
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

  def rank(texts):
    q, q_mask = head.encode(*inputs(texts.queries, "query"), "query")
    d, d_mask = head.encode(*inputs(texts.docs, "code"), "doc")
    return rankers.rank_tokens(q, q_mask, d, d_mask, depth)
  return rank


def ranker_for(dataset: str, workdir: str | None) -> rankers.Ranker:
  """`python -m eval retrieval --ranker colbert_proj|crisp --workdir W`."""
  del dataset  # the head was trained for one; it ranks any texts
  if not workdir:
    raise ValueError("a trained head needs --workdir of its training run")
  return ranker(restore(workdir))
