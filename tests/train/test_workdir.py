"""A workdir's files across runs: refusals write nothing, one run at a time,
torn metrics, finished runs, config changes on resume, and gs:// URLs."""

import json
import socket
import subprocess
import sys

import jax
import numpy as np
import pytest

from eval import main as eval_main
from tests.train import run_files
from train import config as config_lib
from train import loop, metrics
from zoo.errors import CheckpointError, ConfigError

pytestmark = pytest.mark.usefixtures("no_user_compile_cache")

SMOKE = "simvq.py:smoke"
ONE = jax.devices()[:1]
# Holds a workdir's lock until killed: argv[1] is the workdir.
HOLD_THE_LOCK = """
import sys, time
from etils import epath
from zoo import cache
with cache.held_alone(epath.Path(sys.argv[1]) / ".lock", "workdir"):
  print("holding", flush=True)
  time.sleep(600)
"""


def _cfg(*overrides, spec=SMOKE):
  return config_lib.load_config(spec, list(overrides))


def _rows(workdir):
  return metrics.read_rows(workdir / "metrics.jsonl")


def test_refused_resume_of_another_system_writes_nothing(workdir, capsys):
  before = run_files.file_digests(workdir)
  with pytest.raises(CheckpointError, match="different model"):
    loop.run(_cfg(spec="cppd.py:smoke"), workdir, devices=ONE)
  assert run_files.file_digests(workdir) == before
  assert eval_main.main(["--workdir", str(workdir), "--json"]) == 0
  assert json.loads(capsys.readouterr().out)["system"] == "simvq"


def test_a_second_run_is_refused_naming_the_holder(tmp_path, capsys):
  workdir = tmp_path / "w"
  holder = subprocess.Popen(
      [sys.executable, "-c", HOLD_THE_LOCK, str(workdir)],
      cwd=run_files.ROOT, env=run_files.cli_env(), stdout=subprocess.PIPE,
      text=True)
  try:
    assert holder.stdout.readline().strip() == "holding"
    before = run_files.file_digests(workdir)
    code, _, err = run_files.train_in_process(
        capsys, "--config", SMOKE, "--workdir", str(workdir))
    line = run_files.error_line(code, err)
    assert f"pid {holder.pid} on host {socket.gethostname()}" in line
    assert run_files.file_digests(workdir) == before
  finally:
    holder.kill()  # SIGKILL: its lock must not outlive it
    holder.wait()
    holder.stdout.close()
  assert loop.run(_cfg(), workdir, devices=ONE)["step"] == 20


def test_a_torn_last_metrics_line_is_dropped_with_a_warning(
    workdir, finished, capsys):
  path = workdir / "metrics.jsonl"
  path.write_text(path.read_text()[:-30])  # a run killed mid-append
  summary = loop.run(_cfg(), workdir, devices=ONE)
  assert "dropped the torn last line" in capsys.readouterr().err
  assert summary == {**finished[1], "workdir": str(workdir)}
  assert [r["split"] for r in _rows(workdir)].count("eval") == 1


def test_a_finished_run_run_again_prints_the_same_summary_and_writes_nothing(
    workdir, finished, capsys):
  before = run_files.file_digests(workdir)
  code, out, err = run_files.train_in_process(
      capsys, "--config", SMOKE, "--workdir", str(workdir))
  assert code == 0, err
  assert run_files.summary_of(out) == {**finished[1], "workdir": str(workdir)}
  assert {"train_loss", "train_recon_mse"} <= run_files.summary_of(out).keys()
  assert run_files.file_digests(workdir) == before


@pytest.mark.parametrize("change,shown", [
    ("seed=1", "seed (0 -> 1)"),
    ("data.batch_size=64", "data.batch_size (32 -> 64)"),
    ("optim.learning_rate=0.002", "optim.learning_rate (0.001 -> 0.002)"),
])
def test_resuming_with_another_seed_batch_or_rate_is_refused(workdir, change,
                                                             shown):
  before = run_files.file_digests(workdir)
  with pytest.raises(ConfigError, match="allow_config_change") as refused:
    loop.run(_cfg("steps=30", change), workdir, devices=ONE)
  assert shown in str(refused.value)
  assert run_files.file_digests(workdir) == before


def test_an_allowed_config_change_is_recorded_in_the_metrics(workdir):
  loop.run(_cfg("steps=30", "seed=1", "allow_config_change=true"), workdir,
           devices=ONE)
  rows = _rows(workdir)
  changes = [r for r in rows if r["split"] == "config_change"]
  assert changes == [{"step": 20, "split": "config_change",
                      "changes": {"seed": [0, 1]}}]
  assert [r["step"] for r in rows if r["split"] == "train"][-1] == 30
  # The change is now the run's config: resuming with it needs no flag.
  loop.run(_cfg("steps=40", "seed=1"), workdir, devices=ONE)


def test_a_gs_workdir_keeps_its_url_everywhere(tmp_path, monkeypatch,
                                               capsys):
  """gs:// served from a local folder (`run_files.fake_gcs`): epath's backend
  and orbax's tensorstore driver are swapped, the zoo's code is not."""
  monkeypatch.chdir(tmp_path)  # where a URL mangled to gs:/ would land
  url = "gs://bucket/simvq"
  with run_files.fake_gcs(tmp_path / "gcs"):
    summary = loop.run(_cfg(), url, devices=ONE)
    assert "cannot be locked" in capsys.readouterr().err
    assert loop.run(_cfg(), url, devices=ONE) == summary
    _, state, step = loop.load(url, devices=ONE)
    capsys.readouterr()
    assert eval_main.main(["--workdir", url, "--json"]) == 0
    evaluated = json.loads(capsys.readouterr().out)
  assert summary["workdir"] == url and step == 20
  assert evaluated["reconstruction_mse"] == pytest.approx(  # on 8 devices
      summary["reconstruction_mse"], rel=1e-5)
  local = tmp_path / "gcs" / "bucket" / "simvq"
  for name in ("config.json", "input_spec.json", "metrics.jsonl",
               "eval.json", "loss_curves.png", "reconstructions.png",
               "codebook_usage.png"):
    assert (local / name).is_file(), name
  assert sorted(p.name for p in (local / "checkpoints").iterdir()) == [
      "10", "20"]
  assert not (tmp_path / "gs:").exists()
  _, reference, _ = loop.load(local, devices=ONE)
  for a, b in zip(jax.tree.leaves(state), jax.tree.leaves(reference),
                  strict=True):
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
