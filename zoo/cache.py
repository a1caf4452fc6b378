"""Where the zoo keeps data and compiled programs on this machine, and the
file locks that keep processes from writing the same files at once."""

import contextlib
import datetime
import errno
import fcntl
import json
import os
import pathlib
import socket
import sys
from collections.abc import Iterator

import jax
from etils import epath

from zoo.errors import WorkdirError


def user_cache_dir() -> pathlib.Path:
  """`$XDG_CACHE_HOME/zoo`, by default `~/.cache/zoo`."""
  base = os.environ.get("XDG_CACHE_HOME") or "~/.cache"
  return pathlib.Path(base).expanduser() / "zoo"


def is_local(path: os.PathLike | str) -> bool:
  """Whether `path` is on a mounted filesystem, not a URL (gs://, s3://)."""
  return "://" not in os.fspath(path)


def check_writable(folder: os.PathLike | str) -> None:
  """Raises WorkdirError unless `folder` is, or can be made, a writable
  directory. URLs are not checked: an object store answers at the first
  write.
  """
  if not is_local(folder):
    return
  existing = pathlib.Path(folder)
  while not existing.exists():  # also False under a file (ENOTDIR)
    existing = existing.parent
  if not existing.is_dir():
    under = "" if existing == pathlib.Path(folder) else f" under {existing},"
    raise WorkdirError(f"workdir {folder} is{under} a file, not a directory")
  if not os.access(existing, os.W_OK | os.X_OK):
    raise WorkdirError(f"workdir {folder} is not writable ({existing} is "
                       "read-only for this user); use another --workdir")


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


def _holder(handle) -> str:
  """Who holds a lock, as its lock file records it."""
  handle.seek(0)
  try:
    info = json.loads(handle.read())
    return f"pid {info['pid']} on host {info['host']} since {info['since']}"
  except (ValueError, KeyError, TypeError):  # empty: it is still writing
    return "another process"


def _try_lock(handle, path: pathlib.Path, what: str) -> bool:
  """Takes the flock of `handle`; False where the filesystem has none."""
  try:
    fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    return True
  except OSError as e:
    if e.errno in (errno.EWOULDBLOCK, errno.EACCES):
      holder = _holder(handle)
    else:
      print(f"warning: cannot lock {what} ({e.strerror}); make sure one "
            "run at a time uses it", file=sys.stderr)
      return False
  raise WorkdirError(
      f"{what} is in use by {holder} (lock file {path}); wait for that run "
      "to end or stop it, or use another workdir")


@contextlib.contextmanager
def held_alone(path: epath.Path, what: str) -> Iterator[None]:
  """Holds an exclusive lock on the file `path` or refuses at once.

  The lock is an flock: the kernel drops it when its holder exits, however
  it exits (kill -9 included), so a dead holder never blocks the next one.
  While held, the file records the holder's pid, host and start time, which
  a refused process reports; it is emptied on release. Object stores
  (gs://, s3://) and filesystems without flock cannot be locked: a warning
  on stderr says so and nothing is locked.

  Args:
    path: the lock file, created with its parents if missing.
    what: what the lock guards, for messages ("workdir runs/x").

  Raises:
    WorkdirError: another process holds the lock, or the folder of `path`
      cannot be created or written.
  """
  if not is_local(path):
    print(f"warning: {what} is on an object store, where runs cannot be "
          "locked; make sure one run at a time uses it", file=sys.stderr)
    yield
    return
  path = pathlib.Path(path)
  try:
    path.parent.mkdir(parents=True, exist_ok=True)
    handle = open(path, "a+")
  except OSError as e:
    raise WorkdirError(f"cannot write to {what}: {e.strerror} "
                       f"({e.filename})") from None
  with handle:
    if not _try_lock(handle, path, what):
      yield
      return
    try:
      handle.truncate(0)
      handle.write(json.dumps({
          "pid": os.getpid(), "host": socket.gethostname(),
          "since": datetime.datetime.now().isoformat(timespec="seconds")}))
      handle.flush()
      yield
    finally:
      handle.truncate(0)
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
