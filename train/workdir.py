"""What a workdir already holds, read before a run writes anything.

`read_history` never writes: it refuses a workdir that cannot resume with
this config (another model, a corrupt checkpoint without `restore_fallback`,
changed settings without `allow_config_change`, steps below the saved
ones), and returns a finished run's summary so that running it again is a
no-op.
"""

import dataclasses

from etils import epath

from train import config as config_lib
from train import metrics
from zoo import checkpoint
from zoo.checkpoint import Checkpointer
from zoo.errors import CheckpointCorrupt, ConfigError, WorkdirError

METRICS = "metrics.jsonl"


@dataclasses.dataclass(frozen=True)
class History:
  """What a workdir already holds, as far as resuming is concerned."""

  step: int | None = None  # of the latest checkpoint
  # Config changes the user allowed: {dotted key: (saved, now)}.
  changes: dict = dataclasses.field(default_factory=dict)
  summary: dict | None = None  # the summary of a finished run


def read_history(workdir: epath.Path, cfg, cfg_dict: dict) -> History:
  """Reads (never writes) the workdir; refuses what cannot resume there."""
  if workdir.exists() and not workdir.is_dir():
    raise WorkdirError(f"workdir {workdir} exists and is not a directory")
  if not (workdir / "checkpoints").is_dir():
    return History()
  ckpt = Checkpointer(workdir / "checkpoints", read_only=True, alone=True)
  try:
    step = ckpt.latest_step()
    saved = None if step is None else _saved_config(ckpt, cfg, cfg_dict)
  finally:
    ckpt.close()
  if step is None:
    return History()
  changes = _resume_changes(saved, cfg_dict)
  if changes and not cfg.allow_config_change:
    shown = ", ".join(f"{k} ({a} -> {b})" for k, (a, b) in changes.items())
    raise ConfigError(
        f"{workdir} was trained to step {step} with other values of {shown}; "
        "resume with the saved values, add --set allow_config_change=true "
        "to go on with the new ones, or use another --workdir")
  if step > cfg.steps:
    raise ConfigError(f"{workdir} holds a run trained to step {step}, past "
                      f"steps={cfg.steps}; set steps to at least {step} or "
                      "use another --workdir")
  rows = metrics.read_rows(workdir / METRICS) if step == cfg.steps else []
  train = metrics.find_row(rows, step, "train")
  final = metrics.find_row(rows, step, "eval")
  summary = None if train is None or final is None else metrics.run_summary(
      cfg.system, step, workdir, train, final)
  return History(step, changes, summary)


def _saved_config(ckpt: Checkpointer, cfg, cfg_dict: dict) -> dict:
  """The latest checkpoint's config, refused if it is another model's; with
  `restore_fallback`, the newest that can be read."""
  steps = sorted(ckpt.all_steps(), reverse=True)
  for step in steps:
    try:
      return ckpt.saved_config(cfg_dict, step=step)
    except CheckpointCorrupt as e:
      if not cfg.restore_fallback:
        raise suggest_fallback(e) from None
      if step == steps[-1]:
        raise
  raise AssertionError("unreachable: the loop returns or raises")


def suggest_fallback(e: CheckpointCorrupt) -> CheckpointCorrupt:
  return CheckpointCorrupt(f"{e}; --set restore_fallback=true resumes from "
                           "the newest intact checkpoint instead")


def _resume_changes(saved: dict, current: dict) -> dict[str, tuple]:
  """Differing fields outside system, model and `config.RESUME_FREE`."""
  keys = tuple(k for k in saved.keys() | current.keys()
               if k not in ("system", "model"))
  free = lambda key: any(key == f or key.startswith(f + ".")
                         for f in config_lib.RESUME_FREE)

  def value(config, key):
    for part in key.split("."):
      config = config.get(part) if isinstance(config, dict) else None
    return config

  return {k: (value(saved, k), value(current, k))
          for k in checkpoint.config_differences(saved, current, keys)
          if not free(k)}
