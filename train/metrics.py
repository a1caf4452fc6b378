"""Metrics: the JSONL log, NaN checks, the run summary and the progress bar.

Paths are `etils.epath` paths: local or on an object store (gs://...).
"""

import json
import os
import sys
from typing import Any

import jax
import numpy as np
import tqdm
from etils import epath

from zoo import cache
from zoo.errors import TrainingDiverged, WorkdirError


def atomic_write_bytes(path: epath.PathLike, data: bytes) -> None:
  """Writes a file so readers see the old or the new bytes, never a part."""
  path = epath.Path(path)
  if not cache.is_local(path):  # one object upload is atomic already
    path.write_bytes(data)
    return
  tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
  with open(tmp, "wb") as f:
    f.write(data)
    f.flush()
    os.fsync(f.fileno())  # the new name must never point at lost data
  os.replace(tmp, path)


def atomic_write_text(path: epath.PathLike, text: str) -> None:
  """`atomic_write_bytes` of UTF-8 text."""
  atomic_write_bytes(path, text.encode())


def read_rows(path: epath.PathLike, *, warn: bool = False) -> list[dict]:
  """The rows of a metrics.jsonl file ([] if there is none).

  A run killed while appending leaves a torn last line: it is dropped (with
  a warning on stderr if `warn`). A bad line elsewhere is a WorkdirError.
  """
  path = epath.Path(path)
  if not path.exists():
    return []
  lines = [line for line in path.read_text().splitlines() if line.strip()]
  rows = []
  for number, line in enumerate(lines, 1):
    try:
      rows.append(json.loads(line))
    except json.JSONDecodeError:
      if number < len(lines):
        raise WorkdirError(f"{path} line {number} is not JSON; fix or delete "
                           "that line") from None
      if warn:
        print(f"warning: dropped the torn last line of {path} (a run "
              f"stopped while writing it): {line[:80]!r}", file=sys.stderr)
  return rows


def find_row(rows: list[dict], step: int, split: str) -> dict | None:
  """The last row logged for `split` at `step`, without those two keys."""
  for row in reversed(rows):
    if row.get("step") == step and row.get("split") == split:
      return {k: v for k, v in row.items() if k not in ("step", "split")}
  return None


def run_summary(system: str, step: int, workdir: epath.Path, train: dict,
                final: dict) -> dict[str, Any]:
  """What `python -m train` prints: last train metrics and final eval."""
  return {"system": system, "step": step, "workdir": str(workdir),
          **{f"train_{k}": v for k, v in train.items()}, **final}


class MetricsLog:
  """Appends one JSON object per line to `metrics.jsonl` (process 0 only).

  On resume from step s, rows logged after s (and a torn last line) are
  dropped first, so the file describes exactly one history.
  """

  def __init__(self, path: epath.Path, resume_step: int):
    self.path = epath.Path(path)
    self.rows = []
    self._enabled = jax.process_index() == 0
    if self._enabled:
      self.rows = [r for r in read_rows(self.path, warn=True)
                   if r["step"] <= resume_step]
      if self.path.exists():
        atomic_write_text(self.path, "".join(
            json.dumps(r) + "\n" for r in self.rows))

  def write(self, step: int, split: str, metrics: dict) -> None:
    if not self._enabled:
      return
    row = {"step": step, "split": split, **metrics}
    self.rows.append(row)
    if not cache.is_local(self.path):  # objects cannot be appended to
      atomic_write_text(self.path, "".join(
          json.dumps(r) + "\n" for r in self.rows))
      return
    with open(self.path, "a") as f:
      f.write(json.dumps(row) + "\n")


def summarize(pending: list[dict], first_step: int) -> dict[str, float]:
  """Means of per-step device metrics; raises on a non-finite value.

  Args:
    pending: per-step metric dicts (device scalars), oldest first.
    first_step: the step number of pending[0].
  """
  host = jax.device_get(pending)
  for offset, row in enumerate(host):
    for name, value in row.items():
      if not np.all(np.isfinite(value)):
        raise TrainingDiverged(
            f"{name} became {float(np.asarray(value).ravel()[0])} at step "
            f"{first_step + offset + 1}; stopped without saving it")
  return {name: float(np.mean([row[name] for row in host]))
          for name in host[0]}


def progress_bar(total: int, initial: int) -> tqdm.tqdm:
  """Steps/s and ETA on stderr, from process 0 only."""
  return tqdm.tqdm(
      total=total, initial=initial, unit="step", file=sys.stderr,
      dynamic_ncols=True, disable=jax.process_index() != 0,
      bar_format="{l_bar}{bar}| {n_fmt}/{total_fmt} "
                 "[{elapsed}<{remaining}, {rate_fmt}{postfix}]")
