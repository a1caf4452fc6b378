"""Errors a user can fix are one `error:` line, exit status 2, found before
anything is written (the eval side's too), and change nothing on disk."""

import shutil

import pytest

from tests.train import run_files
from train.data import sources

pytestmark = pytest.mark.usefixtures("no_user_compile_cache")

SMOKE = "simvq.py:smoke"


@pytest.mark.parametrize("overrides,message", [
    (["data.name=nope"], "unknown dataset 'nope'"),
    (["system=nope"], "unknown system 'nope'"),
    (["model.quantizer.num_codes=0"], "num_codes must be >= 1, got 0"),
    (["data.eval_batch_size=0"], "data.eval_batch_size must be >= 1, got 0"),
    (["optim.learning_rate=-1"], "learning_rate must be a finite number >= 0"),
    (["data.eval_split=nope"], "has no split 'nope'"),
    # 8 devices in this process: the train batch splits, the eval one not.
    (["mesh.data=8", "data.eval_batch_size=12"],
     "data.eval_batch_size 12 is not divisible by the mesh's data*fsdp = 8"),
])
def test_bad_values_are_one_line_before_anything_is_written(
    tmp_path, capsys, overrides, message):
  workdir = tmp_path / "w"
  sets = [arg for item in overrides for arg in ("--set", item)]
  code, _, err = run_files.train_in_process(
      capsys, "--config", SMOKE, "--workdir", str(workdir), *sets)
  assert message in run_files.error_line(code, err)
  assert not workdir.exists()


@pytest.mark.parametrize("workdir,message", [
    ("file/w", "is under {tmp}/file, a file, not a directory"),
    ("file", "exists and is not a directory"),
])
def test_a_workdir_under_or_at_a_file_is_one_line(tmp_path, capsys, workdir,
                                                  message):
  (tmp_path / "file").write_text("not a folder")
  code, _, err = run_files.train_in_process(
      capsys, "--config", SMOKE, "--workdir", str(tmp_path / workdir))
  assert message.format(tmp=tmp_path) in run_files.error_line(code, err)
  assert (tmp_path / "file").read_text() == "not a folder"


@pytest.mark.parametrize("command", [
    ["train", "--config", SMOKE, "--set", "steps=30"],  # must write: resume
    ["eval"],
])
def test_a_read_only_workdir_is_one_line(workdir, command):
  before = run_files.file_digests(workdir)
  module, *args = command
  try:
    proc = run_files.run_cli(
        module, *args, "--workdir", str(workdir),
        wrap=lambda argv: run_files.read_only_command(workdir, argv))
  finally:
    run_files.writable_again(workdir)
  line = run_files.error_line(proc.returncode, proc.stderr)
  assert f"workdir {workdir} is not writable" in line
  assert run_files.file_digests(workdir) == before


@pytest.fixture(scope="module")
def built_digits(tmp_path_factory):
  root = tmp_path_factory.mktemp("data")
  sources.prepare("digits", root)
  return root


def _damage(record, how: str) -> None:
  data = record.read_bytes()
  if how == "truncated":
    record.write_bytes(data[:len(data) // 2])
  elif how == "emptied":
    record.write_bytes(b"")
  elif how == "bit-flipped":
    record.write_bytes(data[:5000] + bytes([data[5000] ^ 1]) + data[5001:])
  else:
    record.unlink()


@pytest.mark.parametrize("how", ["truncated", "emptied", "bit-flipped",
                                 "deleted"])
def test_a_damaged_dataset_is_one_line_saying_how_to_rebuild_it(
    built_digits, tmp_path, monkeypatch, capsys, how):
  data = tmp_path / "data"
  shutil.copytree(built_digits, data)
  _damage(next((data / "digits").rglob("digits-train.array_record*")), how)
  monkeypatch.setenv(sources.ENV_VAR, str(data))
  workdir = tmp_path / "w"
  code, _, err = run_files.train_in_process(
      capsys, "--config", SMOKE, "--workdir", str(workdir))
  line = run_files.error_line(code, err)
  assert f"dataset 'digits' in {data / 'digits'} is damaged" in line
  assert f"delete {data / 'digits'} and it is rebuilt" in line
  assert not workdir.exists()
