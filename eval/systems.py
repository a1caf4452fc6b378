"""`python -m eval systems`: every system's record, checked part by part.

Each reference a record holds is resolved by the registry's one rule and
checked for what it must be (a config function whose `:smoke` variant
loads and trains this system in at most 50 steps, a `Task`, a dataset
builder whose name matches, callables elsewhere); the model is built from
its default config. A broken record is reported with the system's name and
the field, so a typo shows here rather than after a training run.
"""

import argparse
import sys
from collections.abc import Callable

from zoo import registry

MAX_SMOKE_STEPS = 50


def _check_config(system: registry.System, ref: str) -> None:
  from train import config as config_lib  # noqa: PLC0415

  cfg = config_lib.load_config(f"{registry.config_file(ref)}:smoke")
  if cfg.system != system.name:
    raise ValueError(f"its :smoke config trains {cfg.system!r}")
  if cfg.steps > MAX_SMOKE_STEPS:
    raise ValueError(f"its :smoke config runs {cfg.steps} steps (at most "
                     f"{MAX_SMOKE_STEPS})")
  config_lib.task_of(cfg)


def _check_task(system: registry.System, ref: str) -> None:
  del system
  from train.tasks import Task  # noqa: PLC0415

  if not isinstance(registry.resolve(ref), Task):
    raise ValueError("is not a train.tasks.Task")


def _check_dataset(system: registry.System, ref: str) -> None:
  del system
  from train.data import builders  # noqa: PLC0415

  builder = registry.resolve(ref)
  if getattr(builder, "name", None) != builders.dataset_name(ref):
    raise ValueError(f"builds {getattr(builder, 'name', None)!r}, not "
                     f"{builders.dataset_name(ref)!r}")


def _check_callable(system: registry.System, ref: str) -> None:
  del system
  if not callable(registry.resolve(ref)):
    raise ValueError("is not callable")


_CHECKS: dict[str, Callable[[registry.System, str], None]] = {
    "configs": _check_config,
    "task": _check_task,
    "datasets": _check_dataset,
}


def problems(system: registry.System) -> list[str]:
  """What is wrong with a system's record, one line each (none if nothing).

  Every line starts with the system's name and the field at fault.
  """
  found = []
  for field, ref in system.references():
    check = _CHECKS.get(field, _check_callable)
    try:
      check(system, ref)
    except Exception as e:  # every broken part, whatever it raised
      found.append(f"{system.name}: {field} {ref!r}: {e}")
  if system.builder is not None:
    try:
      system.builder(system.default_config())
    except Exception as e:
      found.append(f"{system.name}: builder(default_config()): {e}")
  return found


def main(argv: list[str]) -> int:
  p = argparse.ArgumentParser(prog="python -m eval systems",
                              description=__doc__,
                              formatter_class=argparse.RawTextHelpFormatter)
  p.add_argument("--system", action="append",
                 help="check only these (repeatable; default: all)")
  args = p.parse_args(argv)
  try:
    chosen = [registry.get(n) for n in args.system] if args.system else (
        registry.systems())
  except KeyError as e:
    print(f"error: {e.args[0]}", file=sys.stderr)
    return 2
  failed = 0
  for system in chosen:
    found = problems(system)
    failed += bool(found)
    for line in found:
      print(f"error: {line}", file=sys.stderr)
    if not found:
      refs = len(system.references())
      print(f"ok  {system.name:<16} {system.family:<10} {refs} references")
  return 1 if failed else 0
