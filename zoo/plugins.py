"""Plug-in configs: what varies between papers, one module per kind.

A shared model leaves a *slot* open (the quantizer's codebook, the ColBERT
projection head) and types it with an abstract frozen dataclass, the slot's
base. Each module of the slot's package defines one subclass: a `kind` tag,
the kind's own hyper-parameters and its behaviour. A new kind is a new file;
the shared model and the base never change.

    @dataclasses.dataclass(frozen=True)
    class CodebookConfig(Plugin):
      package = "zoo.vq.codebooks"          # where the kinds live

    # zoo/vq/codebooks/ema.py
    @dataclasses.dataclass(frozen=True)
    class EMACodebook(CodebookConfig):
      kind = "ema"
      decay: float = 0.99

The config system picks the class by its tag: `--set
model.quantizer.codebook=ema` switches to the default EMA codebook, and a
saved config's `{"kind": "ema", "decay": 0.9}` restores one (`to_dict`
writes the tag beside the fields).
"""

import dataclasses
import importlib
import pkgutil
from typing import Any, ClassVar


@dataclasses.dataclass(frozen=True)
class Plugin:
  """Base of a slot's configs; subclasses set the class attribute `kind`.

  Attributes:
    kind: the tag (class attribute, not a field).
    package: on the slot's base: the package whose modules define the kinds.
  """

  kind: ClassVar[str] = ""
  package: ClassVar[str] = ""

  @classmethod
  def slot(cls) -> type["Plugin"]:
    """The base that declared `package` (the slot this kind belongs to)."""
    for base in cls.__mro__:
      if "package" in vars(base):
        return base
    raise TypeError(f"{cls.__name__} belongs to no plug-in slot (no base "
                    "sets `package`)")

  @classmethod
  def kinds(cls) -> dict[str, type["Plugin"]]:
    """Tag -> config class for every kind of the slot, importing the
    slot's package first so that every kind module has registered."""
    slot = cls.slot()
    package = importlib.import_module(slot.package)
    for info in pkgutil.iter_modules(package.__path__):
      importlib.import_module(f"{slot.package}.{info.name}")
    found: dict[str, type[Plugin]] = {}
    pending = list(slot.__subclasses__())
    while pending:
      sub = pending.pop()
      pending.extend(sub.__subclasses__())
      if not sub.kind:
        continue
      if sub.kind in found and found[sub.kind] is not sub:
        raise TypeError(f"two {slot.__name__} kinds are tagged {sub.kind!r}: "
                        f"{found[sub.kind].__qualname__} and "
                        f"{sub.__qualname__}")
      found[sub.kind] = sub
    return dict(sorted(found.items()))

  @classmethod
  def of_kind(cls, kind: str) -> type["Plugin"]:
    """The config class tagged `kind`; ValueError naming the known tags."""
    kinds = cls.kinds()
    if kind not in kinds:
      raise ValueError(f"unknown {cls.slot().__name__} kind {kind!r}; known: "
                       f"{', '.join(kinds)}")
    return kinds[kind]


def to_dict(config: Any) -> Any:
  """`dataclasses.asdict`, with each plug-in's `kind` beside its fields."""
  if dataclasses.is_dataclass(config) and not isinstance(config, type):
    out = {"kind": config.kind} if isinstance(config, Plugin) else {}
    for field in dataclasses.fields(config):
      out[field.name] = to_dict(getattr(config, field.name))
    return out
  if isinstance(config, (list, tuple)):
    return type(config)(to_dict(v) for v in config)
  if isinstance(config, dict):
    return {k: to_dict(v) for k, v in config.items()}
  return config
