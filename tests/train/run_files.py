"""Helpers for the tests of a workdir's files: digests, the one-line error
contract, read-only folders and a gs:// bucket served from a local folder."""

import contextlib
import hashlib
import io
import json
import os
import pathlib
import shutil
import subprocess
import sys
from unittest import mock

import jax
from etils.epath import backend, gpath
from orbax.checkpoint._src.path import gcs_utils

from train import main as train_main

ROOT = pathlib.Path(__file__).resolve().parents[2]


def file_digests(folder: pathlib.Path) -> dict[str, str]:
  """sha256 of every file under `folder`, by relative path."""
  return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
          for p in sorted(folder.rglob("*")) if p.is_file()}


def error_line(code: int, stderr: str) -> str:
  """The one `error:` line of a refused command (exit status 2)."""
  assert code == 2, stderr[-2000:]
  errors = [line for line in stderr.splitlines() if line.startswith("error:")]
  assert len(errors) == 1, stderr[-2000:]
  assert "Traceback" not in stderr
  return errors[0]


def train_in_process(capsys, *args) -> tuple[int, str, str]:
  """`python -m train ARGS` in this process: (exit code, stdout, stderr)."""
  capsys.readouterr()
  code = train_main.main(list(args))
  out = capsys.readouterr()
  return code, out.out, out.err


def summary_of(stdout: str) -> dict:
  return json.loads(stdout.strip().splitlines()[-1])


def cli_env(devices: int = 1, **extra) -> dict[str, str]:
  """The environment of a CLI subprocess: CPU devices and the test suite's
  compilation cache."""
  env = dict(os.environ, JAX_PLATFORMS="cpu",
             XLA_FLAGS=f"--xla_force_host_platform_device_count={devices}",
             ZOO_COMPILE_CACHE=jax.config.jax_compilation_cache_dir or "off")
  env.update(extra)
  return env


def read_only_command(folder: pathlib.Path, argv: list[str]) -> list[str]:
  """`argv` run where `folder` is read-only for it.

  Root writes through file modes, so as root the command runs in its own
  mount namespace with `folder` bind-mounted read-only (nothing leaks out);
  other users get the folder's write bits removed (see `writable_again`).
  """
  if os.geteuid() != 0:
    for path in [folder, *folder.rglob("*")]:
      path.chmod(path.stat().st_mode & ~0o222)
    return argv
  if not shutil.which("unshare"):
    import pytest

    pytest.skip("running as root without unshare: no read-only folder")
  script = ('mount --bind "$0" "$0" && mount -o remount,bind,ro "$0" "$0" '
            '&& exec "$@"')
  return ["unshare", "--mount", "sh", "-c", script, str(folder), *argv]


def writable_again(folder: pathlib.Path) -> None:
  for path in [folder, *folder.rglob("*")]:
    path.chmod(path.stat().st_mode | 0o200)


def run_cli(module: str, *args, env=None, timeout=300, wrap=None):
  argv = [sys.executable, "-m", module, *args]
  return subprocess.run(wrap(argv) if wrap else argv, cwd=ROOT,
                        capture_output=True, text=True, timeout=timeout,
                        env=env or cli_env())


class _BucketBackend(backend._OsPathBackend):
  """gs://NAME/... kept in ROOT/NAME/... on the local disk; like an object
  store, it cannot append to a file."""

  def __init__(self, root: pathlib.Path):
    self.root = root

  def local(self, path) -> str:
    url = os.fspath(path)
    assert url.startswith("gs://"), url
    return os.path.join(self.root, url[len("gs://"):])

  def _url(self, local) -> str:
    return "gs://" + os.path.relpath(local, self.root)

  def open(self, path, mode):
    if "a" in mode:
      raise io.UnsupportedOperation(f"object stores cannot append: {path}")
    return super().open(self.local(path), mode)

  def exists(self, path):
    return super().exists(self.local(path))

  def isdir(self, path):
    return super().isdir(self.local(path))

  def listdir(self, path):
    return super().listdir(self.local(path))

  def glob(self, path):
    return [self._url(p) for p in super().glob(self.local(path))]

  def walk(self, top, *, top_down=True, on_error=None):
    for folder, dirs, files in super().walk(self.local(top),
                                            top_down=top_down,
                                            on_error=on_error):
      yield self._url(folder), dirs, files

  def makedirs(self, path, *, exist_ok=False, mode=None):
    return super().makedirs(self.local(path), exist_ok=exist_ok, mode=mode)

  def mkdir(self, path, *, exist_ok=False, mode=None):
    return super().mkdir(self.local(path), exist_ok=exist_ok, mode=mode)

  def rmtree(self, path):
    return super().rmtree(self.local(path))

  def remove(self, path):
    return super().remove(self.local(path))

  def rename(self, path, dst):
    return super().rename(self.local(path), self.local(dst))

  def replace(self, path, dst):
    return super().replace(self.local(path), self.local(dst))

  def copy(self, path, dst, overwrite):
    return super().copy(self.local(path), self.local(dst), overwrite)

  def stat(self, path):
    return super().stat(self.local(path))


@contextlib.contextmanager
def fake_gcs(root: pathlib.Path):
  """gs:// URLs served from `root`, for etils.epath and for orbax's
  tensorstore (its GCS driver becomes the file driver); yields the backend,
  whose `local(url)` names the local file."""
  bucket = _BucketBackend(root)
  with mock.patch.dict(gpath._PREFIX_TO_BACKEND, {"gs": bucket}), \
      mock.patch.object(gpath, "_is_tf_installed", lambda: False), \
      mock.patch.object(gcs_utils, "is_hierarchical_namespace_enabled",
                        lambda path: False), \
      mock.patch.object(gcs_utils, "get_kvstore_for_gcs",
                        lambda path: {"driver": "file",
                                      "path": bucket.local(path)}):
    yield bucket
