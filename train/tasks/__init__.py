"""Train tasks: what a system's model is trained on, one objective per file.

A task turns dataset examples into model inputs, initialises the model and
computes the loss. Tasks register themselves here by name; a system record
names its task.
"""

import dataclasses
import importlib
import pkgutil
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from zoo.registry import NamedRegistry


@dataclasses.dataclass(frozen=True)
class Task:
  """Attributes:

    name: registry name.
    features: dataset features the task reads.
    prepare: host-side conversion of a batch of examples ({feature: array})
      to model inputs ({name: array}); runs in numpy.
    init: (model, key, inputs) -> variables.
    loss: (model, variables, inputs, key) -> (loss, (metrics, updated
      non-param collections)).
  """

  name: str
  features: tuple[str, ...]
  prepare: Callable[[Mapping[str, np.ndarray]], dict[str, np.ndarray]]
  init: Callable[..., Any]
  loss: Callable[..., Any]


_TASKS: NamedRegistry[Task] = NamedRegistry("task")
register = _TASKS.register
get = _TASKS.get


# Every module in this package registers one task.
for _info in pkgutil.iter_modules(__path__):
  importlib.import_module(f"{__name__}.{_info.name}")
