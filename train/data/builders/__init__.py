"""The zoo's bundled datasets, each a TFDS builder writing array_record.

Builders are imported on first use, so importing this package does not import
tensorflow_datasets. Nothing is downloaded: every dataset is built from files
already on the machine.
"""

import importlib

# Dataset name -> "module:class" inside this package.
_BUILDERS = {
    "digit_strips": "digit_strips:DigitStrips",
    "digits": "digits:Digits",
    "limit_small": "limit_small:LimitSmall",
    "parallelbench_lists": "parallelbench_lists:ParallelbenchLists",
    "stdlib_code_search": "stdlib_code_search:StdlibCodeSearch",
    "stdlib_code_search_minilm": "code_search_minilm:StdlibCodeSearchMinilm",
    "stdlib_code_bpe": "stdlib_bpe:StdlibCodeBpe",
    "stdlib_text": "stdlib_text:StdlibText",
    "stdlib_text_bpe": "stdlib_bpe:StdlibTextBpe",
}

NAMES: tuple[str, ...] = tuple(sorted(_BUILDERS))


def builder_class(name: str) -> type:
  """The TFDS builder class of dataset `name`.

  Raises:
    ValueError: `name` is not one of `NAMES`.
  """
  if name not in _BUILDERS:
    raise ValueError(
        f"unknown dataset {name!r}; known datasets: {', '.join(NAMES)}"
    )
  module, cls = _BUILDERS[name].split(":")
  return getattr(importlib.import_module(f"{__name__}.{module}"), cls)
