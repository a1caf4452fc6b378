"""Batches for training and evaluation, as global sharded jax.Arrays.

Training batches are random access by step: a grain index pipeline (shuffle,
reshuffled every epoch, then batch) gives the example ids of step s, so a
resumed run sees exactly the batches it would have seen, and no iterator
state needs checkpointing. Each process reads only its slice of the global
batch and the slices are assembled with
`jax.make_array_from_process_local_data`, so N processes train on the same
global batches as one.
"""

from collections.abc import Iterator, Mapping

import grain
import jax
import numpy as np

from train.config import DataConfig
from train.data import sources
from zoo import sharding
from zoo.errors import ConfigError


def _stack(records: list[Mapping[str, np.ndarray]], features) -> dict:
  return {f: np.stack([np.asarray(r[f]) for r in records]) for f in features}


def _local_slice(global_size: int) -> slice:
  count, index = jax.process_count(), jax.process_index()
  if global_size % count:
    raise ConfigError(f"batch size {global_size} is not divisible by the "
                      f"{count} processes")
  local = global_size // count
  return slice(index * local, (index + 1) * local)


def _to_global(local: Mapping[str, np.ndarray], mesh, global_size: int):
  out = {}
  for name, array in local.items():
    shape = (global_size,) + array.shape[1:]
    out[name] = jax.make_array_from_process_local_data(
        sharding.batch_sharding(mesh, array.ndim), array, shape)
  return out


def check_divisible(batch_size: int, mesh, what: str) -> None:
  shards = mesh.shape["data"] * mesh.shape["fsdp"]
  if batch_size % shards:
    raise ConfigError(f"{what} {batch_size} is not divisible by the mesh's "
                      f"data*fsdp = {shards}")


class TrainBatches:
  """`batches[step]` is the prepared, sharded global batch of that step."""

  def __init__(self, cfg: DataConfig, task, mesh, seed: int):
    self._source = sources.data_source(cfg.name, cfg.train_split,
                                       data_dir=cfg.data_dir or None)
    check_divisible(cfg.batch_size, mesh, "data.batch_size")
    if cfg.batch_size > len(self._source):
      raise ConfigError(f"data.batch_size {cfg.batch_size} exceeds the "
                        f"{len(self._source)} examples of {cfg.name}:"
                        f"{cfg.train_split}")
    self._ids = (grain.MapDataset.range(len(self._source))
                 .shuffle(seed=seed).repeat()
                 .batch(cfg.batch_size, drop_remainder=True))
    self._slice = _local_slice(cfg.batch_size)
    self._task, self._mesh, self._size = task, mesh, cfg.batch_size

  def local(self, step: int) -> dict[str, np.ndarray]:
    """This process's prepared part of step `step`'s batch (numpy)."""
    ids = np.asarray(self._ids[step])[self._slice]
    records = self._source.__getitems__([int(i) for i in ids])
    return self._task.prepare(_stack(records, self._task.features))

  def __getitem__(self, step: int) -> dict[str, jax.Array]:
    return _to_global(self.local(step), self._mesh, self._size)


def eval_batches(cfg: DataConfig, task, mesh, split: str | None = None
                 ) -> Iterator[dict[str, jax.Array]]:
  """The whole split in order, in padded batches with a "mask" [B] entry."""
  source = sources.data_source(cfg.name, split or cfg.eval_split,
                               data_dir=cfg.data_dir or None)
  size = cfg.eval_batch_size
  check_divisible(size, mesh, "data.eval_batch_size")
  part = _local_slice(size)
  for start in range(0, len(source), size):
    ids = np.arange(start, start + size)[part]
    valid = ids < len(source)
    records = source.__getitems__([int(i) for i in np.where(valid, ids, 0)])
    local = task.prepare(_stack(records, task.features))
    local["mask"] = valid
    yield _to_global(local, mesh, size)
