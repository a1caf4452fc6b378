"""The registry of systems: one record per paper.

A family package (e.g. `zoo.vq`) registers its systems at import; `zoo`
imports every family, so `systems()` is complete once `zoo` is imported.
Train tasks, evaluators and claim checks are named here and resolved by the
`train` and `eval` packages, so `zoo` itself stays importable without them.
"""

import dataclasses
from collections.abc import Callable
from typing import Any

import flax.linen as nn


@dataclasses.dataclass(frozen=True)
class System:
  """A paper's system.

  Attributes:
    name: registry name, e.g. "simvq".
    family: "vq", "retrieval", "decoding", "interp" or "arch".
    paper: the paper's title.
    default_config: returns the model's default config (a frozen dataclass).
    builder: model config -> linen module.
    configs: train config files, relative to the `train/configs` folder; the
      first is the default.
    task: name of the train task (`train.tasks`).
    evaluators: names of the evaluators (`eval.evaluators`).
    claim: the claim check, "module:function" (`eval.claims`), or None.
    summary: one line on what the system does.
  """

  name: str
  family: str
  paper: str
  default_config: Callable[[], Any]
  builder: Callable[[Any], nn.Module]
  configs: tuple[str, ...]
  task: str
  evaluators: tuple[str, ...] = ()
  claim: str | None = None
  summary: str = ""


_SYSTEMS: dict[str, System] = {}


def register(system: System) -> System:
  if system.name in _SYSTEMS:
    raise KeyError(f"system {system.name!r} is already registered")
  _SYSTEMS[system.name] = system
  return system


def get(name: str) -> System:
  try:
    return _SYSTEMS[name]
  except KeyError:
    known = ", ".join(sorted(_SYSTEMS)) or "(none)"
    raise KeyError(f"unknown system {name!r}; known: {known}") from None


def systems() -> list[System]:
  """All registered systems, ordered by family then name."""
  return sorted(_SYSTEMS.values(), key=lambda s: (s.family, s.name))


def build(name: str, config: Any = None, **overrides) -> nn.Module:
  """Builds a system's model from its config (default config if None).

  Args:
    name: registry name.
    config: the model config (a frozen dataclass), or None for the default.
    **overrides: top-level fields to replace in the config.
  """
  system = get(name)
  cfg = system.default_config() if config is None else config
  if overrides:
    cfg = dataclasses.replace(cfg, **overrides)
  return system.builder(cfg)
