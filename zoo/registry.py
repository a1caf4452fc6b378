"""The registry of systems: one record per paper.

A family package (e.g. `zoo.vq`) registers its systems at import; `zoo`
imports every family, so `systems()` is complete once `zoo` is imported.
Train tasks, evaluators and claim checks are named here and resolved by the
`train` and `eval` packages, so `zoo` itself stays importable without them.
"""

import dataclasses
from collections.abc import Callable
from typing import Any, Generic, TypeVar

import flax.linen as nn

T = TypeVar("T")


@dataclasses.dataclass(frozen=True)
class System:
  """A paper's system.

  Attributes:
    name: registry name, e.g. "simvq".
    family: "vq", "retrieval", "decoding", "interp" or "arch".
    paper: the paper's title.
    default_config: returns the model's default config (a frozen dataclass);
      None for a system with nothing to train (an index, an experiment).
    builder: model config -> linen module (None likewise).
    configs: train config files, relative to the `train/configs` folder; the
      first is the default.
    task: name of the train task (`train.tasks`), or None.
    evaluators: names of the evaluators (`eval.evaluators`).
    claim: the claim check, "module:function" (`eval.claims`), or None.
    summary: one line on what the system does.
  """

  name: str
  family: str
  paper: str
  default_config: Callable[[], Any] | None = None
  builder: Callable[[Any], nn.Module] | None = None
  configs: tuple[str, ...] = ()
  task: str | None = None
  evaluators: tuple[str, ...] = ()
  claim: str | None = None
  summary: str = ""


class NamedRegistry(Generic[T]):
  """Records with a unique `.name`; unknown names list the known ones."""

  def __init__(self, kind: str):
    self.kind = kind
    self.items: dict[str, T] = {}

  def register(self, item: T) -> T:
    if item.name in self.items:
      raise KeyError(f"{self.kind} {item.name!r} is already registered")
    self.items[item.name] = item
    return item

  def get(self, name: str) -> T:
    try:
      return self.items[name]
    except KeyError:
      known = ", ".join(sorted(self.items)) or "(none)"
      raise KeyError(f"unknown {self.kind} {name!r}; known: {known}") from None


_SYSTEMS: NamedRegistry[System] = NamedRegistry("system")
register = _SYSTEMS.register
get = _SYSTEMS.get


def systems() -> list[System]:
  """All registered systems, ordered by family then name."""
  return sorted(_SYSTEMS.items.values(), key=lambda s: (s.family, s.name))


def build(name: str, config: Any = None, **overrides) -> nn.Module:
  """Builds a system's model from its config (default config if None).

  Args:
    name: registry name.
    config: the model config (a frozen dataclass), or None for the default.
    **overrides: top-level fields to replace in the config.
  """
  system = get(name)
  if system.builder is None:
    raise ValueError(f"system {name!r} has no trainable model to build")
  cfg = system.default_config() if config is None else config
  if overrides:
    cfg = dataclasses.replace(cfg, **overrides)
  return system.builder(cfg)
