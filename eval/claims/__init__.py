"""Claim checks: each paper's central claim, re-measured at toy scale.

A system's record names its check, `eval.claims.<name>:check`. The function
takes no arguments and returns a list of records without `seconds`; `run`
times it and fills in the rest. A claim that is not met is a record with
passed=False, not an error; an error means the check could not run.
"""

import dataclasses
import json
import pathlib
import time

import numpy as np

from train.metrics import atomic_write_text
from zoo import registry


@dataclasses.dataclass(frozen=True)
class ClaimRecord:
  system: str
  claim: str
  metric: str
  value: float
  baseline: float | None
  threshold: float
  passed: bool
  seconds: float = 0.0


def measured(system: str, claim: str, metric: str, value: float,
             baseline: float | None, threshold: float,
             higher_is_better: bool = True,
             strict: bool = False) -> ClaimRecord:
  """A record whose verdict compares `value` with `threshold`: at least
  (at most) it, or with `strict` more (less) than it, as in "beats"."""
  if higher_is_better:
    passed = value > threshold if strict else value >= threshold
  else:
    passed = value < threshold if strict else value <= threshold
  return ClaimRecord(system, claim, metric, float(value),
                     None if baseline is None else float(baseline),
                     float(threshold), bool(passed))


def over_seeds(values, seeds, digits: int = 3, with_mean: bool = True
               ) -> str:
  """How a value varies over models trained from several seeds:
  "mean 1.300 over seeds 0,1: 1.200 to 1.400" (with_mean=False: "mean
  over seeds ...", for a text whose value already is the mean)."""
  values = np.asarray(values, float)
  mean = f"mean {values.mean():.{digits}f}" if with_mean else "mean"
  return (f"{mean} over seeds {','.join(map(str, seeds))}: "
          f"{values.min():.{digits}f} to {values.max():.{digits}f}")


def systems_with_claims() -> list[str]:
  return [s.name for s in registry.systems() if s.claim]


def run(system_name: str) -> list[ClaimRecord]:
  """Runs one system's claim check; raises if it has none or cannot run."""
  system = registry.get(system_name)
  if not system.claim:
    raise KeyError(f"system {system_name!r} has no claim check")
  check = registry.resolve(system.claim)
  start = time.perf_counter()
  records = check()
  seconds = round(time.perf_counter() - start, 1)
  return [dataclasses.replace(r, seconds=seconds) for r in records]


def markdown(records: list[ClaimRecord]) -> str:
  """The claims table for the README."""
  fmt = lambda v: "-" if v is None else f"{v:.4g}"
  lines = ["| system | claim | metric | value | baseline | threshold | "
           "verdict |", "|---|---|---|---|---|---|---|"]
  for r in records:
    lines.append(f"| {r.system} | {r.claim} | {r.metric} | {fmt(r.value)} | "
                 f"{fmt(r.baseline)} | {fmt(r.threshold)} | "
                 f"{'pass' if r.passed else 'FAIL'} |")
  return "\n".join(lines)


def load(path: pathlib.Path) -> list[ClaimRecord]:
  """The records of a ledger file (none if it does not exist)."""
  if not path.exists():
    return []
  return [ClaimRecord(**r) for r in json.loads(path.read_text())]


def save(path: pathlib.Path, records: list[ClaimRecord]) -> None:
  """Writes a ledger file whole or not at all."""
  atomic_write_text(path, json.dumps([dataclasses.asdict(r) for r in records],
                                     indent=1) + "\n")


def merge(ledger: list[ClaimRecord], fresh: list[ClaimRecord]
          ) -> list[ClaimRecord]:
  """`ledger` with the records of every system in `fresh` replaced by its
  fresh ones, where its old ones stood (a new system's go last)."""
  systems = {r.system for r in fresh}
  out, placed = [], set()
  for record in ledger:
    if record.system not in systems:
      out.append(record)
    elif record.system not in placed:
      out.extend(r for r in fresh if r.system == record.system)
      placed.add(record.system)
  out.extend(r for r in fresh if r.system not in placed)
  return out
