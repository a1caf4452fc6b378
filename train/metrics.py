"""Metrics: the JSONL log, NaN checks and the progress bar."""

import json
import os
import pathlib
import sys

import jax
import numpy as np
import tqdm

from zoo.errors import TrainingDiverged


def atomic_write_text(path: pathlib.Path, text: str) -> None:
  """Writes a file so readers see the old or the new text, never a part."""
  tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
  tmp.write_text(text)
  os.replace(tmp, path)


class MetricsLog:
  """Appends one JSON object per line to `metrics.jsonl` (process 0 only).

  On resume from step s, rows logged after s are dropped first, so the file
  describes exactly one history.
  """

  def __init__(self, path: pathlib.Path, resume_step: int):
    self.path = path
    self._enabled = jax.process_index() == 0
    if self._enabled and path.exists():
      kept = [line for line in path.read_text().splitlines()
              if line.strip() and json.loads(line)["step"] <= resume_step]
      atomic_write_text(path, "".join(line + "\n" for line in kept))

  def write(self, step: int, split: str, metrics: dict) -> None:
    if not self._enabled:
      return
    row = {"step": step, "split": split, **metrics}
    with self.path.open("a") as f:
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

