"""Batches for training and evaluation, as global sharded jax.Arrays.

Training batches are random access by step: step s reads the examples at
positions s*B .. (s+1)*B-1 of an endless stream that reshuffles the split
every epoch (a permutation seeded by (seed, epoch)), so a resumed run sees
exactly the batches it would have seen and no iterator state needs
checkpointing. Each process reads only its slice of the global batch and the
slices are assembled with `jax.make_array_from_process_local_data`, so N
processes train on the same global batches as one. A grain pipeline reads
and prepares upcoming batches on a background thread while the device
trains. Splits small enough are read into memory once.
"""

from collections.abc import Iterator, Mapping

import jax
import numpy as np

from train.config import DataConfig
from train.data import sources
from zoo import sharding
from zoo.errors import ConfigError

# Splits whose fixed-size features take less than this are held in memory.
_IN_MEMORY_BYTES = 256 << 20


def _stack(records: list[Mapping[str, np.ndarray]], features) -> dict:
  return {f: np.stack([np.asarray(r[f]) for r in records]) for f in features}


class _Reader:
  """Reads examples by id; holds small fixed-size splits in memory."""

  def __init__(self, source, features):
    self._source, self._features = source, features
    self._memory = None
    first = _stack(source.__getitems__([0]), features)
    if all(a.dtype != object for a in first.values()) and sum(
        a.nbytes for a in first.values()) * len(source) < _IN_MEMORY_BYTES:
      self._memory = _stack(source.__getitems__(range(len(source))),
                            features)

  def read(self, ids: np.ndarray) -> dict[str, np.ndarray]:
    if self._memory is not None:
      return {f: a[ids] for f, a in self._memory.items()}
    return _stack(self._source.__getitems__([int(i) for i in ids]),
                  self._features)


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


def check_batch_sizes(cfg: DataConfig, mesh) -> None:
  """Both batch sizes split evenly over the mesh and the processes."""
  for name in ("batch_size", "eval_batch_size"):
    check_divisible(getattr(cfg, name), mesh, f"data.{name}")
    _local_slice(getattr(cfg, name))


def check_eval_data(cfg: DataConfig, task) -> None:
  """The eval split exists and its first example prepares: checked before
  training so that the final evaluation cannot fail after it."""
  source = sources.data_source(cfg.name, cfg.eval_split,
                               data_dir=cfg.data_dir or None)
  if not len(source):
    raise ConfigError(f"data.eval_split {cfg.eval_split!r} of {cfg.name} is "
                      "empty")
  task.prepare(_stack(source.__getitems__([0]), task.features))


class TrainBatches:
  """`batches[step]` is the prepared, sharded global batch of that step."""

  def __init__(self, cfg: DataConfig, task, mesh, seed: int):
    source = sources.data_source(cfg.name, cfg.train_split,
                                 data_dir=cfg.data_dir or None)
    check_divisible(cfg.batch_size, mesh, "data.batch_size")
    if cfg.batch_size > len(source):
      raise ConfigError(f"data.batch_size {cfg.batch_size} exceeds the "
                        f"{len(source)} examples of {cfg.name}:"
                        f"{cfg.train_split}")
    self._reader = _Reader(source, task.features)
    self._num, self._seed, self._perms = len(source), seed, {}
    self._slice = _local_slice(cfg.batch_size)
    self._task, self._mesh, self._size = task, mesh, cfg.batch_size

  def _permutation(self, epoch: int) -> np.ndarray:
    if epoch not in self._perms:
      if len(self._perms) > 2:  # a batch spans at most two epochs
        self._perms.clear()
      self._perms[epoch] = np.random.default_rng(
          (self._seed, epoch)).permutation(self._num)
    return self._perms[epoch]

  def ids(self, step: int) -> np.ndarray:
    """Example ids of step `step`'s global batch [B]."""
    positions = step * self._size + np.arange(self._size)
    epochs, offsets = np.divmod(positions, self._num)
    return np.concatenate([self._permutation(int(e))[offsets[epochs == e]]
                           for e in np.unique(epochs)])

  def local(self, step: int) -> dict[str, np.ndarray]:
    """This process's prepared part of step `step`'s batch (numpy)."""
    return self._task.prepare(self._reader.read(self.ids(step)[self._slice]))

  def to_global(self, local: Mapping[str, np.ndarray]) -> dict[str, jax.Array]:
    return _to_global(local, self._mesh, self._size)

  def __getitem__(self, step: int) -> dict[str, jax.Array]:
    return self.to_global(self.local(step))

  def prefetched(self, start: int, stop: int) -> Iterator[dict]:
    """Local batches of steps start..stop-1, prepared ahead on a thread."""
    # Imported here: loading a trained run (on a host without grain, say)
    # never iterates.
    import grain  # noqa: PLC0415

    steps = grain.MapDataset.range(start, stop).map(self.local)
    return iter(steps.to_iter_dataset(
        grain.ReadOptions(num_threads=1, prefetch_buffer_size=8)))


def eval_batches(cfg: DataConfig, task, mesh, split: str | None = None
                 ) -> Iterator[dict[str, jax.Array]]:
  """The whole split in order, in padded batches with a "mask" [B] entry."""
  source = sources.data_source(cfg.name, split or cfg.eval_split,
                               data_dir=cfg.data_dir or None)
  size = cfg.eval_batch_size
  check_divisible(size, mesh, "data.eval_batch_size")
  part = _local_slice(size)
  reader = _Reader(source, task.features)
  for start in range(0, len(source), size):
    ids = np.arange(start, start + size)[part]
    valid = ids < len(source)
    local = task.prepare(reader.read(np.where(valid, ids, 0)))
    local["mask"] = valid
    yield _to_global(local, mesh, size)
