"""Fixtures of tests/train: one finished smoke run, copied for each test
that changes it."""

import shutil

import jax
import pytest

from train import config as config_lib
from train import loop

SMOKE = "simvq.py:smoke"


@pytest.fixture(scope="session")
def finished(tmp_path_factory):
  """A finished smoke run on one device (checkpoints at steps 10 and 20)
  and its summary. Never change it: copy it (`workdir`)."""
  workdir = tmp_path_factory.mktemp("finished") / "w"
  return workdir, loop.run(config_lib.load_config(SMOKE), workdir,
                           devices=jax.devices()[:1])


@pytest.fixture
def workdir(finished, tmp_path):
  """A copy of the finished smoke run, to change."""
  shutil.copytree(finished[0], tmp_path / "w")
  return tmp_path / "w"


@pytest.fixture
def no_user_compile_cache(monkeypatch):
  """The CLIs' mains, run in this process, would point JAX's compilation
  cache at the user's; keep the test suite's."""
  monkeypatch.setenv("ZOO_COMPILE_CACHE", "off")
