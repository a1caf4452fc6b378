"""Where the zoo keeps data and compiled programs on this machine."""

import contextlib
import fcntl
import os
import pathlib
from collections.abc import Iterator

import jax


def user_cache_dir() -> pathlib.Path:
  """`$XDG_CACHE_HOME/zoo`, by default `~/.cache/zoo`."""
  base = os.environ.get("XDG_CACHE_HOME") or "~/.cache"
  return pathlib.Path(base).expanduser() / "zoo"


@contextlib.contextmanager
def locked(path: pathlib.Path) -> Iterator[None]:
  """Holds an exclusive lock on the file `path` (created with its parents):
  processes that build the same cached artefact take turns."""
  path.parent.mkdir(parents=True, exist_ok=True)
  with open(path, "a") as handle:
    fcntl.flock(handle, fcntl.LOCK_EX)
    try:
      yield
    finally:
      fcntl.flock(handle, fcntl.LOCK_UN)


def enable_compilation_cache() -> None:
  """Turns on JAX's persistent compilation cache ($ZOO_COMPILE_CACHE).

  Set ZOO_COMPILE_CACHE=off to disable it.
  """
  where = os.environ.get("ZOO_COMPILE_CACHE", str(user_cache_dir() / "jax"))
  if where.lower() == "off":
    return
  jax.config.update("jax_compilation_cache_dir", where)
  jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.5)
