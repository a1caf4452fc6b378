"""Decoding systems: one module per paper, each registering its System.

The algorithms live in `ops.decoding` (jitted, model-agnostic) and the
models in `zoo.lm`; a module here names the paper, its configs, its claim
check and its `python -m eval decoding` report. Every submodule is imported,
so adding a file registers its system.
"""

import importlib
import pkgutil

for _info in pkgutil.iter_modules(__path__):
  importlib.import_module(f"{__name__}.{_info.name}")
