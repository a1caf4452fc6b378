"""Train tasks: what a system's model is trained on, one objective per file.

A task turns dataset examples into model inputs, initialises the model and
computes the loss. Each module here defines one as `TASK`; a system record
names it by reference (`train.tasks.<name>:TASK`), and a config may name
another (`TrainConfig.task`).
"""

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np


@dataclasses.dataclass(frozen=True)
class Task:
  """Attributes:

    name: the task's name (its module's).
    features: dataset features the task reads.
    prepare: host-side conversion of a batch of examples ({feature: array})
      to model inputs ({name: array}); runs in numpy.
    init: (model, key, inputs) -> variables.
    loss: (model, variables, inputs, key) -> (loss, (metrics, updated
      non-param collections)).
    optimizer: optional wrapper of the config's optax optimizer, for
      constraints the task's params keep (e.g. unit-norm rows); None uses
      it as built.
  """

  name: str
  features: tuple[str, ...]
  prepare: Callable[[Mapping[str, np.ndarray]], dict[str, np.ndarray]]
  init: Callable[..., Any]
  loss: Callable[..., Any]
  optimizer: Callable[[Any], Any] | None = None
