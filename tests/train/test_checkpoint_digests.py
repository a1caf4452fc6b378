"""Checkpoint digests: flipped bytes are refused naming the step; the newest
intact checkpoint is taken only when asked; old checkpoints still load."""

import shutil

import jax
import numpy as np
import pytest

from eval import main as eval_main
from tests.train import run_files
from train import config as config_lib
from train import loop, metrics
from zoo import errors

pytestmark = pytest.mark.usefixtures("no_user_compile_cache")

ONE = jax.devices()[:1]


def _cfg(*overrides):
  return config_lib.load_config("simvq.py:smoke", list(overrides))


def _flip_a_byte(step_dir):
  """Flips one bit in the middle of the step's largest array file, where
  orbax itself checks nothing."""
  data = max((p for p in (step_dir / "state").rglob("*") if p.is_file()),
             key=lambda p: p.stat().st_size)
  damaged = bytearray(data.read_bytes())
  damaged[len(damaged) // 4] ^= 1
  data.write_bytes(bytes(damaged))


def _state(workdir, step=None):
  return jax.tree.map(np.asarray,
                      jax.tree.leaves(loop.load(workdir, step, devices=ONE)[1]))


def test_flipped_bytes_are_refused_naming_the_step(workdir, capsys):
  _flip_a_byte(workdir / "checkpoints" / "20")
  with pytest.raises(errors.CheckpointError, match="step 20 .*corrupt"):
    loop.load(workdir, devices=ONE)
  before = run_files.file_digests(workdir)
  line = run_files.error_line(eval_main.main(["--workdir", str(workdir)]),
                              capsys.readouterr().err)
  assert "step 20" in line and "--step" in line
  assert run_files.file_digests(workdir) == before
  assert loop.load(workdir, 10, devices=ONE)[2] == 10


def test_resume_takes_the_newest_intact_checkpoint_only_when_asked(
    workdir, tmp_path, capsys):
  _flip_a_byte(workdir / "checkpoints" / "20")
  before = run_files.file_digests(workdir)
  with pytest.raises(errors.CheckpointError, match="restore_fallback=true"):
    loop.run(_cfg("steps=30"), workdir, devices=ONE)
  assert run_files.file_digests(workdir) == before

  loop.run(_cfg("steps=30", "restore_fallback=true"), workdir, devices=ONE)
  err = capsys.readouterr().err
  assert "restored step 10, the newest intact checkpoint" in err
  assert (workdir / "checkpoints.corrupt" / "20").is_dir()
  train_steps = [r["step"] for r in metrics.read_rows(
      workdir / "metrics.jsonl") if r["split"] == "train"]
  assert train_steps == sorted(set(train_steps))  # one history
  straight = tmp_path / "straight"
  loop.run(_cfg("steps=30"), straight, devices=ONE)
  for a, b in zip(_state(workdir), _state(straight), strict=True):
    np.testing.assert_array_equal(a, b)


def test_checkpoints_written_before_digests_existed_still_load(workdir):
  reference = _state(workdir)
  shutil.rmtree(workdir / "checkpoints" / "20" / "digests")
  for a, b in zip(_state(workdir), reference, strict=True):
    np.testing.assert_array_equal(a, b)
