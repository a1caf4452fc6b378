"""Checkpoints: the only module that imports orbax.

A checkpoint holds the train state (any pytree of arrays) and the run's config
as JSON. Saves are atomic (orbax writes to a temporary directory and renames
it on commit), so a run killed mid-save leaves the previous checkpoint
intact. Restores check the saved config against the expected one and refuse a
mismatch, and report a corrupt checkpoint as a `CheckpointError` instead of
loading part of it.
"""

import pathlib
from collections.abc import Mapping
from typing import Any

import jax
import orbax.checkpoint as ocp

from zoo.errors import CheckpointError


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


class Checkpointer:
  """Saves and restores train states in one directory, keeping the latest N.

  Args:
    directory: where the step folders go (created on first save).
    keep: how many checkpoints to keep.
    read_only: open an existing directory for restoring only.
  """

  def __init__(self, directory: str | pathlib.Path, *, keep: int = 2,
               read_only: bool = False):
    self.directory = pathlib.Path(directory).absolute()
    self._manager = ocp.CheckpointManager(
        self.directory,
        options=ocp.CheckpointManagerOptions(
            preservation_policy=ocp.checkpoint_managers.LatestN(keep),
            create=not read_only,
            read_only=read_only,
            enable_async_checkpointing=True,
        ),
    )

  def latest_step(self) -> int | None:
    return self._manager.latest_step()

  def all_steps(self) -> list[int]:
    return list(self._manager.all_steps())

  def save(self, step: int, state: Any, config: Mapping[str, Any]) -> None:
    """Starts an asynchronous save; `wait()` blocks until it is committed."""
    self._manager.save(
        step,
        args=ocp.args.Composite(
            state=ocp.args.StandardSave(state),
            config=ocp.args.JsonSave(dict(config)),
        ),
        force=True,
    )

  def wait(self) -> None:
    self._manager.wait_until_finished()

  def read_config(self, step: int | None = None) -> dict[str, Any]:
    """The config saved with a checkpoint (latest if step is None)."""
    step = self._require_step(step)
    try:
      restored = self._manager.restore(
          step, args=ocp.args.Composite(config=ocp.args.JsonRestore()))
    except Exception as e:  # orbax raises many types for unreadable files
      raise self._error(step, e) from e
    return dict(restored["config"])

  def restore(
      self,
      abstract_state: Any,
      *,
      expected_config: Mapping[str, Any],
      compare_keys: tuple[str, ...] = ("system", "model"),
      step: int | None = None,
  ) -> tuple[int, Any]:
    """Restores a state onto the shardings given in `abstract_state`.

    Args:
      abstract_state: pytree of jax.ShapeDtypeStruct with shardings; the
        restored arrays take these shapes, dtypes and shardings.
      expected_config: the current run's config as a dict.
      compare_keys: top-level config keys that must match exactly.
      step: which step (latest if None).

    Returns:
      (step, state).

    Raises:
      CheckpointError: no checkpoint, a config mismatch, or unreadable data.
    """
    step = self._require_step(step)
    saved = self.read_config(step)
    diff = config_differences(saved, dict(expected_config), compare_keys)
    if diff:
      shown = ", ".join(diff[:5]) + (" ..." if len(diff) > 5 else "")
      raise CheckpointError(
          f"checkpoint {self.directory / str(step)} was written for a "
          f"different model (differs in: {shown}); use a new workdir")
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
    return step, state

  def close(self) -> None:
    self._manager.wait_until_finished()
    self._manager.close()

  def _require_step(self, step: int | None) -> int:
    step = self.latest_step() if step is None else step
    if step is None or step not in self.all_steps():
      raise CheckpointError(f"no checkpoint at step {step} in {self.directory}")
    return step

  def _error(self, step: int, e: Exception) -> CheckpointError:
    first = (str(e).strip().splitlines() or [type(e).__name__])[0][:300]
    return CheckpointError(
        f"checkpoint {self.directory / str(step)} is corrupt or incompatible "
        f"and was not loaded ({type(e).__name__}: {first})")
