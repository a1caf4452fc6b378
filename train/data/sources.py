"""Builds the bundled datasets once and serves them for random access.

Datasets live under `data_dir()`: `$ZOO_DATA_DIR` when set, otherwise
`zoo/datasets` in the user cache (`$XDG_CACHE_HOME`, by default `~/.cache`).
The first `data_source` call for a dataset builds it as array_record files;
later calls, in this process or any other, only open the files.

Two processes may ask for the same dataset at once: a lock file per dataset
lets one build while the others wait, and TFDS writes into an `incomplete.*`
directory that it renames into place only once everything is written, so a
build that died half-way is never read as a dataset.

A dataset whose files were damaged afterwards (truncated, emptied, flipped
bits, deleted: the array_record format checksums its blocks) is reported as a
`DataError` that names the dataset's folder; deleting that folder rebuilds it
on the next call.

tensorflow_datasets is imported when a dataset is first asked for, not when
this module is imported.
"""

import contextlib
import os
import pathlib
import sys
from typing import Any

from train.data import builders
from zoo import cache
from zoo.errors import DataError

ENV_VAR = "ZOO_DATA_DIR"


class DataDirNotFoundError(DataError, FileNotFoundError):
  """A data directory that was named explicitly does not exist."""


def data_dir() -> pathlib.Path:
  """Where datasets are built: `$ZOO_DATA_DIR` or the user cache."""
  if env := os.environ.get(ENV_VAR):
    return pathlib.Path(env).expanduser()
  return cache.user_cache_dir() / "datasets"


def _root(given: str | os.PathLike | None) -> pathlib.Path:
  """The directory to use; only the built-in default is ever created."""
  if given is not None:
    path = pathlib.Path(given).expanduser()
    if not path.is_dir():
      raise DataDirNotFoundError(f"data directory {path} does not exist")
    return path
  path = data_dir()
  if os.environ.get(ENV_VAR):
    if not path.is_dir():
      raise DataDirNotFoundError(
          f"data directory {path} (from ${ENV_VAR}) does not exist"
      )
  else:
    path.mkdir(parents=True, exist_ok=True)
  return path


def _is_built(builder: Any) -> bool:
  # `is_prepared` alone logs a warning for every dataset not built yet.
  return builder.data_path.exists() and builder.is_prepared()


def prepare(name: str, data_dir: str | os.PathLike | None = None) -> Any:
  """The TFDS builder of dataset `name`, built first if it is not yet.

  Args:
    name: one of `builders.names()`.
    data_dir: where to build and read; by default `data_dir()`. A directory
      given here, or through `$ZOO_DATA_DIR`, must exist.

  Returns:
    A prepared `tfds.core.DatasetBuilder`; `.info` describes the dataset.

  Raises:
    ValueError: `name` is not a known dataset.
    DataDirNotFoundError: the given data directory does not exist.
  """
  import tensorflow_datasets as tfds  # Imported on first use, see above.

  try:
    cls = builders.builder_class(name)
  except ValueError as e:
    raise DataError(str(e)) from None
  root = _root(data_dir)
  with _reporting_damage(name, root / cls.name):
    builder = cls(data_dir=os.fspath(root), file_format="array_record")
    if _is_built(builder):
      return builder
  with cache.locked(root / f".{builder.name}.lock"):
    # Built by another process while this one waited for the lock?
    builder = cls(data_dir=os.fspath(root), file_format="array_record")
    if not _is_built(builder):
      # TFDS reports progress on stdout, which belongs to the entrypoints'
      # JSON output; send it to stderr.
      tfds.disable_progress_bar()
      with contextlib.redirect_stdout(sys.stderr):
        builder.download_and_prepare(
            download_config=tfds.download.DownloadConfig(
                try_download_gcs=False
            )
        )
  return builder


def data_source(
    name: str, split: str, data_dir: str | os.PathLike | None = None
) -> Any:
  """A random-access source over one split of dataset `name`.

  Args:
    name: one of `builders.names()`.
    split: a TFDS split string: "train", "test", "train+test", "train[:10%]".
    data_dir: as for `prepare`.

  Returns:
    What `tfds.data_source` returns, with read errors of damaged files
    turned into `DataError`s: supports `len`, `source[i]` and
    `source.__getitems__(indices)`, each record a dict of numpy values (text
    as bytes).
  """
  builder = prepare(name, data_dir)
  folder = pathlib.Path(builder.data_dir).parent
  with _reporting_damage(name, folder):
    try:
      source = builder.as_data_source(split=split)
    except (KeyError, ValueError) as e:
      raise DataError(f"dataset {name!r} has no split {split!r} (splits: "
                      f"{', '.join(sorted(builder.info.splits))})") from e
  return _CheckedSource(source, name, folder)


@contextlib.contextmanager
def _reporting_damage(name: str, folder: pathlib.Path):
  """Turns the errors of reading damaged dataset files into a DataError."""
  try:
    yield
  except DataError:
    raise
  except Exception as e:  # TFDS and array_record raise many types
    first = (str(e).strip().splitlines() or [""])[0][:200]
    raise DataError(
        f"dataset {name!r} in {folder} is damaged or incomplete "
        f"({type(e).__name__}: {first}); delete {folder} and it is rebuilt "
        "on the next run") from e


class _CheckedSource:
  """A TFDS data source whose read errors name the dataset and its fix."""

  def __init__(self, source, name: str, folder: pathlib.Path):
    self._source, self._name, self._folder = source, name, folder

  def __len__(self) -> int:
    return len(self._source)

  def __getitem__(self, index):
    with _reporting_damage(self._name, self._folder):
      return self._source[index]

  def __getitems__(self, indices):
    with _reporting_damage(self._name, self._folder):
      return self._source.__getitems__(indices)

  def __getattr__(self, attribute):
    if attribute.startswith("_"):  # not set yet (copy, pickle)
      raise AttributeError(attribute)
    return getattr(self._source, attribute)
