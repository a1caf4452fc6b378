"""Checkpoints: the only module that imports orbax.

A checkpoint holds the train state (any pytree of arrays), the run's config
as JSON and a sha256 digest of every array. Saves are atomic (orbax writes
to a temporary directory and renames it on commit, or on an object store
writes a commit marker last), so a run killed mid-save leaves the previous
checkpoint intact; the digests are an item of the same checkpoint, committed
with it. Restores check the saved config against the expected one and refuse
a mismatch, recompute the digests and report damaged files as a
`CheckpointCorrupt` instead of loading part of them. Checkpoints written
before digests existed have none and load unverified.

Directories are `etils.epath` paths, so URLs (gs://bucket/run) stay URLs.
"""

import contextlib
import hashlib
import logging
import sys
from collections.abc import Mapping
from typing import Any

import jax
import numpy as np
import orbax.checkpoint as ocp
from etils import epath
from jax.experimental import multihost_utils

from zoo import cache
from zoo.errors import CheckpointCorrupt, CheckpointError

DIGESTS = "digests"


def _flatten(d: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
  out = {}
  for key, value in d.items():
    if isinstance(value, Mapping):
      out.update(_flatten(value, f"{prefix}{key}."))
    else:
      out[f"{prefix}{key}"] = value
  return out


def config_differences(saved: Mapping, expected: Mapping,
                       keys: tuple[str, ...]) -> list[str]:
  """Dotted keys under `keys` whose values differ between two configs."""
  a = _flatten({k: saved.get(k) for k in keys})
  b = _flatten({k: expected.get(k) for k in keys})
  norm = lambda v: list(v) if isinstance(v, tuple) else v
  return sorted(k for k in a.keys() | b.keys()
                if norm(a.get(k)) != norm(b.get(k)))


def _whole_value(leaf) -> np.ndarray | None:
  """`leaf` as a host array, or None where this process holds only part."""
  if not isinstance(leaf, jax.Array) or leaf.is_fully_addressable:
    return np.asarray(leaf)
  # Across processes: a replica held here is the whole value; gathering
  # sharded arrays would cost a copy of them per host, so they go unchecked.
  for shard in leaf.addressable_shards:
    if shard.data.shape == leaf.shape:
      return np.asarray(shard.data)
  return None


def leaf_digests(tree: Any) -> dict[str, str]:
  """sha256 of each leaf's dtype, shape and C-order bytes, by key path."""
  digests = {}
  for path, leaf in jax.tree_util.tree_leaves_with_path(tree):
    value = _whole_value(leaf)
    if value is None:
      continue
    h = hashlib.sha256(f"{value.dtype}{value.shape}".encode())
    h.update(np.ascontiguousarray(value).reshape(-1).view(np.uint8))
    digests[jax.tree_util.keystr(path)] = h.hexdigest()
  return digests


@contextlib.contextmanager
def _absl_level(level: int | None):
  """Raises the level of absl's (orbax's) logger to `level` for a while."""
  logger = logging.getLogger("absl")
  before = logger.level
  if level is not None:
    logger.setLevel(level)
  try:
    yield
  finally:
    logger.setLevel(before)


class Checkpointer:
  """Saves and restores train states in one directory, keeping the latest N.

  Args:
    directory: where the step folders go (created on first save); a local
      path or a URL.
    keep: how many checkpoints to keep.
    read_only: open an existing directory for restoring only.
    alone: read with no barriers among the processes of a multi-host run,
      which may then open it or not as they please (to read configs, not to
      restore sharded states).
  """

  def __init__(self, directory: epath.PathLike, *, keep: int = 2,
               read_only: bool = False, alone: bool = False):
    directory = epath.Path(directory)
    if cache.is_local(directory):  # absolute() would mangle a URL
      directory = directory.absolute()  # tensorstore needs it
    self.directory = directory
    # A read-only manager warns that it is read-only: quiet, it was asked.
    with _absl_level(logging.ERROR if read_only else None):
      self._manager = ocp.CheckpointManager(
          self.directory,
          options=ocp.CheckpointManagerOptions(
              preservation_policy=ocp.checkpoint_managers.LatestN(keep),
              create=not read_only,
              read_only=read_only,
              enable_async_checkpointing=True,
              multiprocessing_options=ocp.options.MultiprocessingOptions(
                  primary_host=jax.process_index(),
                  active_processes={jax.process_index()},
              ) if alone else ocp.options.MultiprocessingOptions(),
          ),
      )

  def latest_step(self) -> int | None:
    return self._manager.latest_step()

  def all_steps(self) -> list[int]:
    return list(self._manager.all_steps())

  def save(self, step: int, state: Any, config: Mapping[str, Any]) -> None:
    """Starts an asynchronous save; `wait()` blocks until it is committed.

    The digests are computed here, before the caller may donate `state`.
    """
    self._manager.save(
        step,
        args=ocp.args.Composite(
            state=ocp.args.StandardSave(state),
            config=ocp.args.JsonSave(dict(config)),
            **{DIGESTS: ocp.args.JsonSave(leaf_digests(state))},
        ),
        force=True,
    )

  def wait(self) -> None:
    self._manager.wait_until_finished()

  def read_config(self, step: int | None = None) -> dict[str, Any]:
    """The config saved with a checkpoint (latest if step is None)."""
    step = self._require_step(step)
    return dict(self._read_json(step, "config"))

  def saved_config(self, expected_config: Mapping[str, Any], *,
                   compare_keys: tuple[str, ...] = ("system", "model"),
                   step: int | None = None) -> dict[str, Any]:
    """`read_config(step)`, refused if it differs from `expected_config` in
    `compare_keys` (a checkpoint of another model: CheckpointError)."""
    step = self._require_step(step)
    saved = self.read_config(step)
    diff = config_differences(saved, dict(expected_config), compare_keys)
    if diff:
      shown = ", ".join(diff[:5]) + (" ..." if len(diff) > 5 else "")
      raise CheckpointError(
          f"checkpoint {self.directory / str(step)} was written for a "
          f"different model (differs in: {shown}); use a new workdir")
    return saved

  def restore(
      self,
      abstract_state: Any,
      *,
      expected_config: Mapping[str, Any],
      compare_keys: tuple[str, ...] = ("system", "model"),
      step: int | None = None,
      fallback: bool = False,
  ) -> tuple[int, Any]:
    """Restores a state onto the shardings given in `abstract_state`.

    Args:
      abstract_state: pytree of jax.ShapeDtypeStruct with shardings; the
        restored arrays take these shapes, dtypes and shardings.
      expected_config: the current run's config as a dict.
      compare_keys: top-level config keys that must match exactly.
      step: which step (latest if None).
      fallback: with step None, when the latest checkpoint is corrupt, take
        the newest intact one instead (saying which on stderr).

    Returns:
      (step, state).

    Raises:
      CheckpointCorrupt: unreadable data or arrays that differ from their
        digests (with `fallback`: every checkpoint is corrupt).
      CheckpointError: no checkpoint, or a config mismatch.
    """
    if not (fallback and step is None):
      return self._restore_step(self._require_step(step), abstract_state,
                                expected_config, compare_keys)
    steps = sorted(self.all_steps(), reverse=True)
    for i, candidate in enumerate(steps):
      try:
        restored = self._restore_step(candidate, abstract_state,
                                      expected_config, compare_keys)
      except CheckpointCorrupt as e:
        older = f"trying step {steps[i + 1]}" if i + 1 < len(steps) else \
            "no older checkpoint is left"
        print(f"warning: {e}; {older}", file=sys.stderr)
        continue
      if i:
        print(f"restore_fallback: restored step {candidate}, the newest "
              "intact checkpoint", file=sys.stderr)
      return restored
    raise CheckpointCorrupt(f"no intact checkpoint in {self.directory} "
                            f"(steps {steps} are all corrupt)")

  def set_aside(self, step: int) -> epath.Path:
    """Moves a (corrupt) step out of the way, to `<directory>.corrupt/`, so
    training can write that step again; returns where it went."""
    target = self.directory.parent / f"{self.directory.name}.corrupt"
    target.mkdir(parents=True, exist_ok=True)
    target = target / str(step)
    suffix = 0
    while target.exists():
      suffix += 1
      target = target.parent / f"{step}.{suffix}"
    if jax.process_index() == 0:
      (self.directory / str(step)).rename(target)
    if jax.process_count() > 1:
      multihost_utils.sync_global_devices(f"set_aside_{step}")
    self._manager.reload()
    return target

  def close(self) -> None:
    self._manager.wait_until_finished()
    self._manager.close()

  def _restore_step(self, step: int, abstract_state, expected_config,
                    compare_keys) -> tuple[int, Any]:
    self.saved_config(expected_config, compare_keys=compare_keys, step=step)
    recorded = self._recorded_digests(step)
    try:
      restored = self._manager.restore(
          step,
          args=ocp.args.Composite(
              state=ocp.args.StandardRestore(abstract_state)),
      )
      state = restored["state"]
      jax.block_until_ready(state)
    except Exception as e:  # orbax raises many types for unreadable files
      raise self._error(step, e) from e
    if recorded is not None:
      self._verify(step, state, recorded)
    return step, state

  def _recorded_digests(self, step: int) -> dict[str, str] | None:
    """The digests saved with `step`; None for checkpoints without any."""
    if not (self.directory / str(step) / DIGESTS).exists():
      return None
    return self._read_json(step, DIGESTS)

  def _verify(self, step: int, state, recorded: Mapping[str, str]) -> None:
    actual = leaf_digests(state)
    bad = sorted(k for k in recorded.keys() & actual.keys()
                 if recorded[k] != actual[k])
    if bad:
      shown = ", ".join(bad[:3]) + (" ..." if len(bad) > 3 else "")
      raise CheckpointCorrupt(
          f"checkpoint step {step} in {self.directory} is corrupt: {shown} "
          "differ from the digests recorded when it was saved")

  def _read_json(self, step: int, item: str) -> Any:
    try:
      restored = self._manager.restore(
          step, args=ocp.args.Composite(**{item: ocp.args.JsonRestore()}))
    except Exception as e:  # orbax raises many types for unreadable files
      raise self._error(step, e) from e
    return restored[item]

  def _require_step(self, step: int | None) -> int:
    step = self.latest_step() if step is None else step
    if step is None or step not in self.all_steps():
      raise CheckpointError(f"no checkpoint at step {step} in {self.directory}")
    return step

  def _error(self, step: int, e: Exception) -> CheckpointCorrupt:
    first = (str(e).strip().splitlines() or [type(e).__name__])[0][:300]
    return CheckpointCorrupt(
        f"checkpoint step {step} in {self.directory} is corrupt or "
        f"incompatible and was not loaded ({type(e).__name__}: {first})")
