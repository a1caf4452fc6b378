"""`python -m train` and `python -m eval` as users run them (subprocesses)."""

import json
import os
import pathlib
import signal
import socket
import subprocess
import sys
import time

import numpy as np
import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]


def _env(devices=1, **extra):
  env = dict(os.environ, JAX_PLATFORMS="cpu",
             XLA_FLAGS=f"--xla_force_host_platform_device_count={devices}")
  env.update(extra)
  return env


def _train(*args, devices=1, env=None, timeout=300):
  return subprocess.run(
      [sys.executable, "-m", "train", *args], cwd=ROOT, capture_output=True,
      text=True, timeout=timeout, env=env or _env(devices))


def _error_line(proc):
  assert proc.returncode == 2, proc.stderr[-2000:]
  errors = [line for line in proc.stderr.splitlines()
            if line.startswith("error:")]
  assert len(errors) == 1, proc.stderr[-2000:]
  assert "Traceback" not in proc.stderr
  return errors[0]


def test_list_shows_the_systems_and_papers():
  out = _train("--list").stdout
  assert "simvq" in out and "vqvae" in out
  assert "Addressing Representation Collapse" in out


@pytest.mark.parametrize("args,message", [
    (["--set", "optim.lr=1"], "unknown config key 'optim.lr'"),
    (["--set", "steps=ten"], "steps must be int, got 'ten'"),
    (["--set", "mesh.data=3"], "3*1*1 = 3, but 1 devices"),
    (["--set", "data.data_dir=/nonexistent/zoo"],
     "data directory /nonexistent/zoo does not exist"),
    (["--config", "nope.py"], "config file 'nope.py' not found"),
])
def test_bad_input_is_one_error_line_and_nothing_written(tmp_path, args,
                                                         message):
  workdir = tmp_path / "w"
  proc = _train("--config", "simvq.py:smoke", "--workdir", str(workdir),
                *args)
  assert message in _error_line(proc)
  assert not workdir.exists()


def test_nan_loss_stops_and_keeps_the_last_good_checkpoint(tmp_path):
  proc = _train("--config", "simvq.py:smoke", "--workdir", str(tmp_path),
                "--set", "optim.learning_rate=1e30", "--set", "ckpt_every=1")
  line = _error_line(proc)
  assert "became nan" in line or "became inf" in line
  bad_step = int(line.split("at step ")[1].split(";")[0])
  steps = sorted(int(p.name) for p in (tmp_path / "checkpoints").iterdir()
                 if p.name.isdigit())
  assert all(s < bad_step for s in steps)


def test_default_job_prints_json_last(tmp_path):
  proc = _train("--config", "simvq.py:smoke", "--workdir", str(tmp_path))
  assert proc.returncode == 0, proc.stderr[-2000:]
  summary = json.loads(proc.stdout.strip().splitlines()[-1])
  assert {"codebook_utilization", "reconstruction_mse"} <= summary.keys()
  assert "step/s" in proc.stderr  # the progress bar's rate

  evaluated = subprocess.run(
      [sys.executable, "-m", "eval", "--workdir", str(tmp_path), "--json"],
      cwd=ROOT, capture_output=True, text=True, timeout=300, env=_env())
  assert evaluated.returncode == 0, evaluated.stderr[-2000:]
  metrics = json.loads(evaluated.stdout)
  assert metrics["step"] == 20
  assert metrics["codebook_utilization"] == summary["codebook_utilization"]


def test_killed_run_resumes_from_its_last_checkpoint(tmp_path):
  args = ["--config", "simvq.py:smoke", "--set", "steps=800",
          "--set", "ckpt_every=100", "--set", "log_every=100"]
  killed = tmp_path / "killed"
  proc = subprocess.Popen(
      [sys.executable, "-m", "train", *args, "--workdir", str(killed)],
      cwd=ROOT, env=_env(), stdout=subprocess.DEVNULL,
      stderr=subprocess.DEVNULL)
  ckpts = killed / "checkpoints"
  deadline = time.time() + 240
  while time.time() < deadline and not (ckpts / "200").exists():
    time.sleep(0.2)
  proc.send_signal(signal.SIGKILL)
  proc.wait()
  assert (ckpts / "200").exists(), "the run never reached step 200"
  resumed = _train(*args, "--workdir", str(killed))
  assert resumed.returncode == 0, resumed.stderr[-2000:]
  assert "resuming from step" in resumed.stderr
  start = int(resumed.stderr.split("resuming from step ")[1].split()[0])
  assert 200 <= start < 800
  straight = _train(*args, "--workdir", str(tmp_path / "straight"))
  final = [json.loads(p.stdout.strip().splitlines()[-1])
           for p in (resumed, straight)]
  assert final[0]["train_loss"] == final[1]["train_loss"]
  assert final[0]["reconstruction_mse"] == final[1]["reconstruction_mse"]


def _free_port():
  with socket.socket() as s:
    s.bind(("localhost", 0))
    return s.getsockname()[1]


def test_two_processes_train_like_one(tmp_path):
  common = ["--config", "simvq.py:smoke", "--set", "mesh.data=2",
            "--set", "log_every=1"]
  single = _train(*common, "--workdir", str(tmp_path / "single"), devices=2)
  assert single.returncode == 0, single.stderr[-2000:]
  port = _free_port()
  procs = [subprocess.Popen(
      [sys.executable, "-m", "train", *common, "--workdir",
       str(tmp_path / "multi"), "--distributed", "--coordinator_address",
       f"localhost:{port}", "--num_processes", "2", "--process_id", str(i)],
      cwd=ROOT, env=_env(1), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
      text=True) for i in range(2)]
  outs = [p.communicate(timeout=300) for p in procs]
  assert all(p.returncode == 0 for p in procs), [o[1][-2000:] for o in outs]

  def losses(name):
    rows = [json.loads(line)
            for line in (tmp_path / name / "metrics.jsonl").open()]
    return np.array([r["loss"] for r in rows if r["split"] == "train"])

  np.testing.assert_allclose(losses("multi"), losses("single"), atol=1e-6)
  assert len(losses("multi")) == 20
