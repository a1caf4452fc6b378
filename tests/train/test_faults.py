"""Fault injection: bad `--set` values drawn from each config field's type,
damaged and torn run files, read-only folders, runs killed at random
moments and runs started together. Every case ends in one `error:` line
(exit status 2) with nothing saved changed, or in a documented recovery
(exit status 0); a resumed run ends where an uninterrupted one does."""

import dataclasses
import json
import random
import shutil
import signal
import subprocess
import sys
import time
import typing

import hypothesis
import jax
import numpy as np
import pytest
from hypothesis import strategies as st

from eval import main as eval_main
from tests.train import run_files
from train import config as config_lib
from train import loop, metrics
from zoo.errors import ConfigError
from zoo.plugins import Plugin

pytestmark = pytest.mark.usefixtures("no_user_compile_cache")

SMOKE = "simvq.py:smoke"
ONE = jax.devices()[:1]


def _leaves(obj, prefix=""):
  """(dotted key, declared type) of every field `--set` can reach."""
  hints = typing.get_type_hints(type(obj))
  for field in dataclasses.fields(obj):
    key, value = prefix + field.name, getattr(obj, field.name)
    if isinstance(value, Plugin):
      yield key, str  # switched by its kind
    if dataclasses.is_dataclass(value):
      yield from _leaves(value, key + ".")
    elif value is not None:
      tp = hints[field.name]
      yield key, type(value) if tp is typing.Any else tp


def _values(tp) -> st.SearchStrategy[str]:
  """Strings for a field of type `tp`: junk, and near misses of its type."""
  junk = st.text(max_size=8)
  if typing.get_origin(tp) is typing.Literal:
    choices = st.sampled_from([str(c) for c in typing.get_args(tp)])
    return st.one_of(junk, choices, choices.map(str.upper),
                     choices.map(lambda c: c + "x"))
  if tp is bool:
    return st.one_of(junk, st.sampled_from(["true", "0", "2", "yes!"]))
  if tp is int:
    return st.one_of(junk, st.integers(-2**70, 2**70).map(str),
                     st.floats(allow_nan=True).map(repr))
  if tp is float:
    return st.one_of(junk, st.floats(allow_nan=True, allow_infinity=True)
                     .map(repr), st.sampled_from(["1e400", "-0", "0"]))
  if typing.get_origin(tp) is tuple:
    return st.lists(st.one_of(junk, st.integers(-3, 3).map(str)),
                    max_size=4).map(",".join)
  return junk


SMOKE_LEAVES = dict(_leaves(config_lib.load_config(SMOKE)))
SETTINGS = st.sampled_from(sorted(SMOKE_LEAVES)).flatmap(
    lambda key: st.tuples(st.just(key), _values(SMOKE_LEAVES[key])))


@hypothesis.settings(max_examples=300, deadline=None)
@hypothesis.given(SETTINGS)
def test_set_values_parse_or_are_one_line_config_errors(setting):
  key, value = setting
  try:
    config_lib.load_config(SMOKE, [f"{key}={value}"])
  except ConfigError as e:
    assert "\n" not in str(e)


def _trains_on(key: str, value: str) -> bool:
  """Whether `--set key=value` asks a finished run for more steps (what a
  user may ask; no fault)."""
  try:
    return key == "steps" and int(value.strip()) > 20
  except ValueError:
    return False


@hypothesis.settings(
    max_examples=80, deadline=None,
    suppress_health_check=[hypothesis.HealthCheck.function_scoped_fixture])
@hypothesis.given(setting=SETTINGS)
def test_set_values_on_a_finished_run_change_nothing(finished, capsys,
                                                     setting):
  key, value = setting
  hypothesis.assume(not _trains_on(key, value))
  workdir, summary = finished
  before = run_files.file_digests(workdir)
  code, out, err = run_files.train_in_process(
      capsys, "--config", SMOKE, "--workdir", str(workdir), "--set",
      f"{key}={value}")
  if code == 0:  # a value the finished run can take: nothing to do
    assert run_files.summary_of(out) == summary
  else:
    run_files.error_line(code, err)
  assert run_files.file_digests(workdir) == before


def _tear(path):
  path.write_bytes(path.read_bytes()[:path.stat().st_size // 2])


def _largest_array_file(workdir):
  return max((p for p in (workdir / "checkpoints" / "20" / "state").rglob("*")
              if p.is_file()), key=lambda p: p.stat().st_size)


# name: (damage(workdir), the command, what must follow)
DAMAGE = {
    "torn metrics line": (
        lambda w: (w / "metrics.jsonl").write_text(
            (w / "metrics.jsonl").read_text()[:-30]), ["train"], "recovers"),
    "torn input spec": (lambda w: _tear(w / "input_spec.json"), ["eval"],
                        "recovers"),
    "lock left half-written by a killed run": (
        lambda w: (w / ".lock").write_text('{"pid": 12'),
        ["train", "--set", "steps=30"], "recovers"),
    "save killed before its commit": (
        lambda w: shutil.copytree(
            w / "checkpoints" / "20",
            w / "checkpoints" / "30.orbax-checkpoint-tmp-1"),
        ["train", "--set", "steps=30"], "recovers"),
    "torn checkpoint config": (
        lambda w: _tear(w / "checkpoints" / "20" / "config" / "metadata"),
        ["train", "--set", "steps=30"], "refused"),
    "torn checkpoint arrays": (lambda w: _tear(_largest_array_file(w)),
                               ["train", "--set", "steps=30"], "refused"),
    "deleted checkpoint arrays": (lambda w: _largest_array_file(w).unlink(),
                                  ["eval"], "refused"),
}


@pytest.mark.parametrize("fault", sorted(DAMAGE))
def test_damaged_run_files(workdir, capsys, fault):
  damage, (command, *args), outcome = DAMAGE[fault]
  damage(workdir)
  before = run_files.file_digests(workdir)
  argv = [*args, "--workdir", str(workdir)]
  if command == "eval":
    capsys.readouterr()
    code, err = eval_main.main(argv), capsys.readouterr().err
  elif outcome == "refused":
    code, _, err = run_files.train_in_process(capsys, "--config", SMOKE,
                                              *argv)
  else:  # on one device: quicker to train on than this process's eight
    overrides = args[1::2]
    loop.run(config_lib.load_config(SMOKE, overrides), workdir, devices=ONE)
    code, err = 0, ""
  if outcome == "refused":
    run_files.error_line(code, err)
    assert run_files.file_digests(workdir) == before
  else:
    assert code == 0, err
    assert loop.load(workdir, devices=ONE)[2] in (20, 30)


def test_a_finished_run_in_a_read_only_workdir_still_answers(finished,
                                                             workdir):
  before = run_files.file_digests(workdir)
  try:
    proc = run_files.run_cli(
        "train", "--config", SMOKE, "--workdir", str(workdir),
        wrap=lambda argv: run_files.read_only_command(workdir, argv))
  finally:
    run_files.writable_again(workdir)
  assert proc.returncode == 0, proc.stderr[-2000:]
  assert run_files.summary_of(proc.stdout) == {**finished[1],
                                               "workdir": str(workdir)}
  assert run_files.file_digests(workdir) == before


LONG = ["--config", SMOKE, "--set", "steps=600", "--set", "ckpt_every=25",
        "--set", "log_every=25"]


def _train_rows(workdir):
  return [r for r in metrics.read_rows(workdir / "metrics.jsonl")
          if r["split"] == "train"]


def _same_history(workdir, straight):
  ours, theirs = _train_rows(workdir), _train_rows(straight)
  assert [r["step"] for r in ours] == [r["step"] for r in theirs]
  np.testing.assert_array_equal([r["loss"] for r in ours],
                                [r["loss"] for r in theirs])
  for a, b in zip(jax.tree.leaves(loop.load(workdir, devices=ONE)[1]),
                  jax.tree.leaves(loop.load(straight, devices=ONE)[1]),
                  strict=True):
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


@pytest.fixture(scope="module")
def straight(tmp_path_factory):
  workdir = tmp_path_factory.mktemp("straight") / "w"
  proc = run_files.run_cli("train", *LONG, "--workdir", str(workdir))
  assert proc.returncode == 0, proc.stderr[-2000:]
  return workdir


def _locked_by(workdir, pid: int) -> bool:
  try:
    return json.loads((workdir / loop.LOCK).read_text())["pid"] == pid
  except (OSError, ValueError):  # not there, or being written
    return False


def _saving_since(checkpoints, start: float) -> bool:
  """Whether orbax has made a temporary step folder since `start`."""
  try:
    return any("tmp" in p.name and p.stat().st_mtime >= start
               for p in checkpoints.iterdir())
  except OSError:  # no folder yet, or renamed while looked at
    return False


@pytest.mark.slow
def test_runs_killed_at_random_moments_resume_to_the_same_result(
    straight, tmp_path):
  """kill -9 five times, each either during a save (an orbax temporary
  folder exists) or at a random moment of training; then finish."""
  rng, workdir = random.Random(0), tmp_path / "w"
  # A kill may tear a compilation-cache entry: not the suite's cache.
  env = run_files.cli_env(ZOO_COMPILE_CACHE=str(tmp_path / "jax_cache"))
  for kill in range(5):
    proc = subprocess.Popen(
        [sys.executable, "-m", "train", *LONG, "--workdir", str(workdir)],
        cwd=run_files.ROOT, env=env,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    while proc.poll() is None and not _locked_by(workdir, proc.pid):
      time.sleep(0.01)  # until its set-up is over and training starts
    start = time.time()
    if kill % 2:
      time.sleep(rng.uniform(0, 1.5))
    else:
      while proc.poll() is None and not _saving_since(
          workdir / "checkpoints", start):
        time.sleep(0.001)
    assert proc.poll() is None, "the run ended before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
  finish = run_files.run_cli("train", *LONG, "--workdir", str(workdir))
  assert finish.returncode == 0, finish.stderr[-2000:]
  _same_history(workdir, straight)


@pytest.mark.slow
def test_two_runs_started_together_on_one_workdir(straight, tmp_path):
  workdir = tmp_path / "w"
  procs = [subprocess.Popen(
      [sys.executable, "-m", "train", *LONG, "--workdir", str(workdir)],
      cwd=run_files.ROOT, env=run_files.cli_env(ZOO_COMPILE_CACHE="off"),
      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
      for _ in range(2)]
  outs = [p.communicate(timeout=300) for p in procs]
  codes = [p.returncode for p in procs]
  assert 0 in codes, [err[-2000:] for _, err in outs]
  if 2 in codes:  # refused at once, naming the other
    winner, loser = procs[codes.index(0)], codes.index(2)
    line = run_files.error_line(2, outs[loser][1])
    assert f"in use by pid {winner.pid}" in line
  else:  # it came when the other had finished: nothing to do
    assert any("nothing to do" in err for _, err in outs)
  _same_history(workdir, straight)


@pytest.mark.slow
def test_a_read_only_data_dir_is_enough_once_built(tmp_path):
  data = tmp_path / "data"
  data.mkdir()
  env = run_files.cli_env(ZOO_DATA_DIR=str(data))
  built = run_files.run_cli("train", "--config", SMOKE, "--workdir",
                            str(tmp_path / "a"), env=env)
  assert built.returncode == 0, built.stderr[-2000:]
  try:
    proc = run_files.run_cli(
        "train", "--config", SMOKE, "--workdir", str(tmp_path / "b"),
        env=env, wrap=lambda argv: run_files.read_only_command(data, argv))
  finally:
    run_files.writable_again(data)
  assert proc.returncode == 0, proc.stderr[-2000:]
  assert json.loads(proc.stdout.splitlines()[-1])["train_loss"] == json.loads(
      built.stdout.splitlines()[-1])["train_loss"]
