"""Claim checks: each paper's central claim, re-measured at toy scale.

A system's record names its check as "module:function". The function takes
no arguments and returns a list of records without `seconds`; `run` times
it and fills in the rest. A claim that is not met is a record with
passed=False, not an error; an error means the check could not run.
"""

import dataclasses
import importlib
import time

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


def systems_with_claims() -> list[str]:
  return [s.name for s in registry.systems() if s.claim]


def run(system_name: str) -> list[ClaimRecord]:
  """Runs one system's claim check; raises if it has none or cannot run."""
  system = registry.get(system_name)
  if not system.claim:
    raise KeyError(f"system {system_name!r} has no claim check")
  module_name, _, fn_name = system.claim.partition(":")
  check = getattr(importlib.import_module(module_name), fn_name)
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
