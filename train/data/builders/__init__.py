"""The zoo's bundled datasets, each a TFDS builder writing array_record.

Which datasets exist is what the systems say: a `System.datasets` names the
builders a system reads, as references `train.data.builders.<module>:<Class>`,
and a dataset's name is its builder class's in TFDS's snake case
(`StdlibTextBpe` -> `stdlib_text_bpe`). Builders are imported on first use,
so importing this package imports neither tensorflow_datasets nor the
systems. Nothing is downloaded: every dataset is built from files already
on the machine.
"""

import re

from zoo import registry


def dataset_name(ref: str) -> str:
  """The TFDS name of a builder reference: its class name, snake case."""
  return re.sub(r"(?<!^)(?=[A-Z])", "_", ref.rpartition(":")[2]).lower()


def references() -> dict[str, str]:
  """Dataset name -> builder reference, over every system's datasets.

  Raises:
    ValueError: two systems name different builders for one dataset.
  """
  found: dict[str, str] = {}
  for system in registry.systems():
    for ref in system.datasets:
      name = dataset_name(ref)
      if found.setdefault(name, ref) != ref:
        raise ValueError(f"dataset {name!r} has two builders: {found[name]} "
                         f"and {ref} ({system.name})")
  return dict(sorted(found.items()))


def names() -> tuple[str, ...]:
  """Every dataset's name, sorted."""
  return tuple(references())


def builder_class(name: str) -> type:
  """The TFDS builder class of dataset `name`.

  Raises:
    ValueError: no system reads a dataset called `name`.
  """
  refs = references()
  if name not in refs:
    raise ValueError(f"unknown dataset {name!r}; known datasets: "
                     f"{', '.join(refs)}")
  return registry.resolve(refs[name])
