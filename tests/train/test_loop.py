"""The training loop end to end: outputs, sharding, resume, restore, refusal."""

import json

import jax
import numpy as np
import pytest
from jax.sharding import PartitionSpec as P

from train import config as config_lib
from train import loop, store
from train.data import pipeline
from train.tasks import vq_autoencoder
from zoo import checkpoint, sharding
from zoo.errors import CheckpointError

SMOKE = "simvq.py:smoke"


def _cfg(*overrides, spec=SMOKE):
  return config_lib.load_config(spec, list(overrides))


def _losses(workdir):
  rows = [json.loads(line) for line in (workdir / "metrics.jsonl").open()]
  return np.array([r["loss"] for r in rows if r["split"] == "train"])


def _params(workdir, step=None):
  _, state, _ = loop.load(workdir, step)
  return jax.tree.map(np.asarray, (state.params, state.model_state,
                                   state.opt_state))


def test_smoke_run_writes_everything(tmp_path):
  summary = loop.run(_cfg(), tmp_path, devices=jax.devices()[:1])
  for name in ("metrics.jsonl", "config.json", "eval.json", "loss_curves.png",
               "reconstructions.png", "codebook_usage.png"):
    assert (tmp_path / name).is_file(), name
  assert summary["step"] == 20
  assert 0 < summary["codebook_utilization"] <= 1
  assert summary["reconstruction_mse"] > 0
  assert checkpoint.Checkpointer(tmp_path / "checkpoints").all_steps() == [
      10, 20]


def test_eight_devices_match_one_device(tmp_path):
  one = tmp_path / "one"
  eight = tmp_path / "eight"
  loop.run(_cfg("log_every=1", "mesh.data=1"), one, devices=jax.devices()[:1])
  loop.run(_cfg("log_every=1", "mesh.data=4", "mesh.tensor=2"), eight)
  a, b = _losses(one), _losses(eight)
  assert len(a) == len(b) == 20
  np.testing.assert_allclose(a, b, rtol=0, atol=1e-5)


def test_params_and_optimizer_state_follow_the_rules():
  cfg = _cfg("mesh.data=4", "mesh.tensor=2")
  mesh = sharding.make_mesh(cfg.mesh)
  task = vq_autoencoder.TASK
  with jax.set_mesh(mesh):
    batch = pipeline.TrainBatches(cfg.data, task, mesh, 0)[0]
  run, init = loop.prepare(cfg, mesh, batch)
  with run.scope():
    state = init()
  kernel = state.params["enc_hidden"]["kernel"]  # logical (embed, mlp)
  assert kernel.sharding.spec == P("fsdp", "tensor")
  assert kernel.addressable_shards[0].data.shape == (64, 64)
  mu = state.opt_state[0].mu["enc_hidden"]["kernel"]
  assert mu.sharding.spec == P("fsdp", "tensor")
  assert state.opt_state[0].mu["dec_out"]["kernel"].sharding.spec == P(
      "tensor", "fsdp")  # (mlp, embed)
  assert batch["x"].sharding.spec == P(("data", "fsdp"), None)


def test_resume_equals_not_stopping(tmp_path):
  straight, resumed = tmp_path / "straight", tmp_path / "resumed"
  one = jax.devices()[:1]
  loop.run(_cfg("steps=40", "ckpt_every=20", "log_every=1"), straight, one)
  loop.run(_cfg("steps=20", "ckpt_every=20", "log_every=1"), resumed, one)
  loop.run(_cfg("steps=40", "ckpt_every=20", "log_every=1"), resumed, one)
  for a, b in zip(jax.tree.leaves(_params(straight)),
                  jax.tree.leaves(_params(resumed))):
    np.testing.assert_array_equal(a, b)
  np.testing.assert_array_equal(_losses(straight), _losses(resumed))


def test_restore_across_meshes(tmp_path):
  loop.run(_cfg(), tmp_path, devices=jax.devices()[:1])
  _, reference, _ = loop.load(tmp_path)
  for mesh_cfg in (sharding.MeshConfig(data=4, tensor=2),
                   sharding.MeshConfig(data=1)):
    devices = jax.devices()[:8 if mesh_cfg.data == 4 else 1]
    _, state, _ = loop.load(tmp_path, mesh=mesh_cfg, devices=devices)
    for a, b in zip(jax.tree.leaves(state), jax.tree.leaves(reference)):
      np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    kernel = state.params["enc_hidden"]["kernel"]
    assert len(kernel.sharding.device_set) == len(devices)


def test_load_needs_no_dataset_once_the_input_spec_exists(tmp_path,
                                                          monkeypatch):
  loop.run(_cfg(), tmp_path, devices=jax.devices()[:1])
  _, reference, _ = loop.load(tmp_path)
  spec = json.loads((tmp_path / loop.INPUT_SPEC).read_text())
  assert spec["x"][0][0] == _cfg().data.batch_size

  def no_data(*args, **kwargs):
    raise AssertionError("load read the dataset")

  monkeypatch.setattr(pipeline, "TrainBatches", no_data)
  _, state, _ = loop.load(tmp_path)
  for a, b in zip(jax.tree.leaves(state), jax.tree.leaves(reference),
                  strict=True):
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
  # A run from before the spec existed: read from the data, then written.
  (tmp_path / loop.INPUT_SPEC).unlink()
  monkeypatch.undo()
  loop.load(tmp_path)
  assert json.loads((tmp_path / loop.INPUT_SPEC).read_text()) == spec


def test_run_once_trains_only_the_first_time(tmp_path, monkeypatch):
  trained, real_run = [], loop.run

  def counted(cfg, workdir, devices=None):
    trained.append(workdir)
    return real_run(cfg, workdir, devices=devices)

  monkeypatch.setattr(loop, "run", counted)
  for _ in range(2):
    assert store.run_once(_cfg, tmp_path / "w", "a smoke run") == (
        tmp_path / "w")
  assert trained == [tmp_path / "w"]
  assert (tmp_path / "w" / "eval.json").is_file()


def test_incompatible_checkpoint_is_refused(tmp_path):
  loop.run(_cfg(), tmp_path, devices=jax.devices()[:1])
  before = sorted(p.name for p in (tmp_path / "checkpoints").iterdir())
  with pytest.raises(CheckpointError, match="different model.*num_codes"):
    loop.run(_cfg("model.quantizer.num_codes=32", "steps=30"), tmp_path,
             devices=jax.devices()[:1])
  assert sorted(p.name for p in (tmp_path / "checkpoints").iterdir()) == before


def test_corrupt_checkpoint_is_refused(tmp_path):
  loop.run(_cfg(), tmp_path, devices=jax.devices()[:1])
  step_dir = tmp_path / "checkpoints" / "20" / "state"
  data_files = [p for p in step_dir.rglob("*") if p.is_file()
                and p.stat().st_size > 100 and "metadata" not in p.name]
  assert data_files
  for p in data_files:
    p.write_bytes(b"\0garbage" * 4)
  with pytest.raises(CheckpointError, match="corrupt or incompatible"):
    loop.load(tmp_path)
