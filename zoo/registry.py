"""The registry of systems: one record per paper, found where the paper lives.

A system is a module under `zoo/<family>/` (any depth) that defines
`SYSTEM = System(...)`: the paper's record and, beside it, its model or a
thin wrapper over `ops`. Nothing else is edited to add one: the registry
imports every module of the family packages on first use and collects
their records.

Everything the command lines look up is named in the record as a reference,
`"package.module:attribute"`, resolved by one rule (`resolve`): import the
module, read the attribute. References may point above `zoo` (train tasks,
evaluators, claim checks); they stay strings here and are imported only by
the layer that uses them, so `zoo` imports neither `train` nor `eval`.

    system = registry.get("simvq")
    check = registry.resolve(system.claim)        # eval.claims.simvq:check
"""

import dataclasses
import importlib
import pkgutil
import re
from collections.abc import Callable
from typing import Any

import flax.linen as nn

# The families, each a package `zoo.<family>`.
FAMILIES = ("vq", "retrieval", "decoding", "interp", "arch")

# "package.module:attribute", e.g. "eval.claims.simvq:check".
Ref = str
_DOTTED = r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)*"
_REF = re.compile(rf"^{_DOTTED}:{_DOTTED}$")
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


@dataclasses.dataclass(frozen=True)
class System:
  """A paper's system and every part the command lines look up.

  Attributes:
    name: registry name, e.g. "simvq" (lower case, digits, underscores).
    family: one of `FAMILIES`; the record lives in `zoo/<family>/`.
    paper: the paper's title.
    summary: one line on what the system does.
    default_config: returns the model's default config (a frozen
      dataclass); None for a system with nothing to build.
    builder: model config -> linen module (None likewise).
    configs: train configs, `train.configs.<file>:get_config`; the first is
      the default (`python -m train --config train/configs/<file>.py`).
    task: the train task, `train.tasks.<name>:TASK`.
    evaluators: functions `(model, variables, batches, workdir) -> metrics`
      run on a trained checkpoint, `train.evaluators.<name>:evaluate`.
    claim: the claim check, `eval.claims.<name>:check`.
    report: the `python -m eval decoding` report,
      `eval.decoding.<name>:report`.
    ranker: for `python -m eval retrieval --ranker <name>`: a function
      `(dataset, workdir) -> ranker`.
    datasets: the TFDS builders it reads,
      `train.data.builders.<dataset>:<Builder>` (module named as the dataset).
  """

  name: str
  family: str
  paper: str
  summary: str = ""
  default_config: Callable[[], Any] | None = None
  builder: Callable[[Any], nn.Module] | None = None
  configs: tuple[Ref, ...] = ()
  task: Ref | None = None
  evaluators: tuple[Ref, ...] = ()
  claim: Ref | None = None
  report: Ref | None = None
  ranker: Ref | None = None
  datasets: tuple[Ref, ...] = ()

  def __post_init__(self):
    if not _NAME.match(self.name):
      raise ValueError(f"system name {self.name!r} must be lower case letters, "
                       "digits and underscores")
    if self.family not in FAMILIES:
      raise ValueError(f"system {self.name!r}: family {self.family!r} is not "
                       f"one of {FAMILIES}")
    if (self.builder is None) != (self.default_config is None):
      raise ValueError(f"system {self.name!r}: give both builder and "
                       "default_config, or neither")
    for kind, ref in self.references():
      if not isinstance(ref, str) or not _REF.match(ref):
        raise ValueError(f"system {self.name!r}: {kind} reference {ref!r} "
                         "must look like 'package.module:attribute'")

  def references(self) -> list[tuple[str, Ref]]:
    """(field, reference) for every reference the record holds."""
    refs = [("configs", r) for r in self.configs]
    refs += [(k, getattr(self, k)) for k in ("task", "claim", "report",
                                              "ranker") if getattr(self, k)]
    refs += [("evaluators", r) for r in self.evaluators]
    refs += [("datasets", r) for r in self.datasets]
    return refs


def resolve(ref: Ref) -> Any:
  """The object a reference names: import the module, read the attribute.

  Raises:
    ValueError: the reference is malformed, or names nothing.
  """
  if not isinstance(ref, str) or not _REF.match(ref):
    raise ValueError(f"reference {ref!r} must look like "
                     "'package.module:attribute'")
  module_name, _, attribute = ref.partition(":")
  try:
    obj = importlib.import_module(module_name)
  except ModuleNotFoundError as e:
    raise ValueError(f"reference {ref!r}: no module {e.name!r}") from None
  for part in attribute.split("."):
    if not hasattr(obj, part):
      raise ValueError(f"reference {ref!r}: {module_name} has no {attribute!r}")
    obj = getattr(obj, part)
  return obj


def config_file(ref: Ref) -> str:
  """The file path of a config reference: train/configs/<file>.py."""
  return ref.partition(":")[0].replace(".", "/") + ".py"


def discover(families: tuple[str, ...] = FAMILIES) -> dict[str, System]:
  """Imports every module of the family packages; returns name -> record.

  Raises:
    ValueError: two records share a name, or a record's family is not the
      package it lives in.
  """
  found: dict[str, System] = {}
  where: dict[str, str] = {}
  for family in families:
    package = importlib.import_module(f"zoo.{family}")
    for info in pkgutil.walk_packages(package.__path__, f"zoo.{family}."):
      module = importlib.import_module(info.name)
      system = getattr(module, "SYSTEM", None)
      if not isinstance(system, System):
        continue
      if system.family != family:
        raise ValueError(f"{info.name} registers {system.name!r} as family "
                         f"{system.family!r} but lives in zoo/{family}/")
      if system.name in found:
        raise ValueError(f"system {system.name!r} is defined twice: in "
                         f"{where[system.name]} and {info.name}")
      found[system.name], where[system.name] = system, info.name
  return found


_SYSTEMS: dict[str, System] | None = None


def _all() -> dict[str, System]:
  global _SYSTEMS
  if _SYSTEMS is None:
    _SYSTEMS = discover()
  return _SYSTEMS


def systems() -> list[System]:
  """All registered systems, ordered by family then name."""
  return sorted(_all().values(),
                key=lambda s: (FAMILIES.index(s.family), s.name))


def get(name: str) -> System:
  """The system called `name`; KeyError listing the known names."""
  try:
    return _all()[name]
  except KeyError:
    raise KeyError(f"unknown system {name!r}; known: "
                   f"{', '.join(sorted(_all()))}") from None


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
