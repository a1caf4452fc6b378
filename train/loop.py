"""`run(cfg, workdir)`: one training run, start to finish (or resume).

The sequence: mesh, data, model and task, sharded state, checkpoint
(resume if present), jitted step with donated state, loop with progress bar,
JSONL metrics and NaN guard, periodic and final evaluation, final save.
Everything that can reject the input runs before anything is written.
"""

import contextlib
import dataclasses
import functools
import json
import os
import pathlib
import sys
import time
from collections.abc import Callable
from typing import Any

import flax.linen as nn
import jax

from train import config as config_lib
from train import plots, tasks
from train.data import pipeline
from train.metrics import MetricsLog, atomic_write_text, progress_bar, summarize
from train.state import TrainState, create_state, make_optimizer, train_step
from zoo import registry, sharding
from zoo.checkpoint import Checkpointer
from zoo.errors import ConfigError

# Shapes and dtypes of one prepared batch: enough to rebuild the model, so
# `load` needs no dataset once a run has written it.
INPUT_SPEC = "input_spec.json"


@dataclasses.dataclass
class Run:
  """A model with its sharded state: what training and evaluation share."""

  cfg: config_lib.TrainConfig
  mesh: jax.sharding.Mesh
  model: nn.Module
  task: tasks.Task
  tx: Any
  evaluators: tuple[Callable, ...]
  shardings: Any  # NamedShardings of TrainState
  abstract: Any  # ShapeDtypeStructs of TrainState, with shardings

  def variables(self, state: TrainState) -> dict:
    return {"params": state.params, **state.model_state}

  def evaluate(self, state: TrainState, workdir=None) -> dict[str, float]:
    """The system's evaluators on the eval split (plots go to `workdir`)."""
    metrics = {}
    with self.scope():
      for evaluate in self.evaluators:
        batches = pipeline.eval_batches(self.cfg.data, self.task, self.mesh)
        metrics.update(evaluate(self.model, self.variables(state), batches,
                                workdir))
    return metrics

  @contextlib.contextmanager
  def scope(self):
    """Mesh and logical-axis rules active for tracing model code."""
    with jax.set_mesh(self.mesh), nn.logical_axis_rules(sharding.RULES):
      yield


def prepare(cfg: config_lib.TrainConfig, mesh, init_inputs
            ) -> tuple[Run, Any]:
  """Builds model, optimizer and state shardings; returns (run, init fn).

  `init_inputs` is one prepared, sharded batch (its shapes define the model).
  """
  system = registry.get(cfg.system)
  model = system.builder(cfg.model)
  task = config_lib.task_of(cfg)
  evaluators = tuple(_resolve(ref, "evaluator") for ref in system.evaluators)
  tx = make_optimizer(cfg.optim, cfg.steps)
  key = jax.random.key(cfg.seed)
  create = functools.partial(create_state, model, tx, init_inputs, key,
                             task.init)
  with jax.set_mesh(mesh), nn.logical_axis_rules(sharding.RULES):
    boxed = jax.eval_shape(create)
    shardings = sharding.logical_shardings(boxed, mesh)
  abstract = jax.tree.map(
      lambda a, s: jax.ShapeDtypeStruct(a.shape, a.dtype, sharding=s),
      nn.meta.unbox(boxed), shardings)
  run = Run(cfg, mesh, model, task, tx, evaluators, shardings, abstract)
  init = jax.jit(lambda: nn.meta.unbox(create()), out_shardings=shardings)
  return run, init


def _resolve(ref: str, what: str):
  try:
    return registry.resolve(ref)
  except ValueError as e:
    raise ConfigError(f"{what}: {e}") from None


def _write_input_spec(workdir: pathlib.Path, batch: dict) -> None:
  spec = {name: [list(a.shape), str(a.dtype)] for name, a in batch.items()}
  if jax.process_index() == 0:
    atomic_write_text(workdir / INPUT_SPEC, json.dumps(spec))


def _read_input_spec(workdir: pathlib.Path) -> dict | None:
  """Zero arrays shaped like a run's batch, or None if it wrote no spec."""
  path = workdir / INPUT_SPEC
  if not path.exists():
    return None
  return {name: jax.numpy.zeros(shape, dtype)
          for name, (shape, dtype) in json.loads(path.read_text()).items()}


def _prepare_workdir(workdir: pathlib.Path, cfg) -> dict:
  if workdir.exists() and not workdir.is_dir():
    raise ConfigError(f"workdir {workdir} exists and is not a directory")
  cfg_dict = config_lib.to_dict(cfg)
  if jax.process_index() == 0:
    workdir.mkdir(parents=True, exist_ok=True)
    atomic_write_text(workdir / "config.json", config_lib.to_json(cfg))
  return cfg_dict


def run(cfg: config_lib.TrainConfig, workdir: str | pathlib.Path,
        devices=None) -> dict[str, Any]:
  """Trains `cfg` in `workdir`, resuming from its latest checkpoint.

  Args:
    cfg: the run's config.
    workdir: where checkpoints, metrics and plots go.
    devices: the devices to build the mesh from (default: all).

  Returns:
    The final summary: system, step, last train metrics and eval metrics.
  """
  workdir = pathlib.Path(workdir)
  mesh = sharding.make_mesh(cfg.mesh, devices)
  task = config_lib.task_of(cfg)
  batches = pipeline.TrainBatches(cfg.data, task, mesh, cfg.seed)
  with jax.set_mesh(mesh):
    first = batches[0]
  run_, init = prepare(cfg, mesh, first)

  cfg_dict = _prepare_workdir(workdir, cfg)
  _write_input_spec(workdir, first)
  ckpt = Checkpointer(workdir / "checkpoints", keep=cfg.keep_checkpoints)
  start = 0
  if ckpt.latest_step() is not None:
    start, state = ckpt.restore(run_.abstract, expected_config=cfg_dict)
    if jax.process_index() == 0:
      print(f"resuming from step {start}", file=sys.stderr)
  else:
    with run_.scope():
      state = init()
    if cfg.init_from:
      state = _init_params_from(cfg.init_from, state, run_)
  log = MetricsLog(workdir / "metrics.jsonl", resume_step=start)

  step_fn = jax.jit(
      functools.partial(train_step, model=run_.model, tx=run_.tx,
                        loss_fn=task.loss, cfg=cfg),
      in_shardings=(run_.shardings,
                    {k: v.sharding for k, v in first.items()}),
      out_shardings=(run_.shardings, sharding.replicated(mesh)),
      donate_argnums=0)

  try:
    with progress_bar(cfg.steps, start) as bar, run_.scope():
      state, last = _train_steps(run_, state, step_fn, batches, start, ckpt,
                                 cfg_dict, log, bar)
    ckpt.wait()
    final = run_.evaluate(state,
                          workdir if jax.process_index() == 0 else None)
    log.write(cfg.steps, "eval", final)
    if jax.process_index() == 0:
      atomic_write_text(workdir / "eval.json", json.dumps(final, indent=2))
      plots.loss_curves(workdir / "metrics.jsonl",
                        workdir / "loss_curves.png")
  finally:
    ckpt.close()  # also on errors: never leave a save half-way
  return {"system": cfg.system, "step": cfg.steps, "workdir": str(workdir),
          **{f"train_{k}": v for k, v in last.items()}, **final}


def _init_params_from(workdir: str, state: TrainState, run_: Run
                      ) -> TrainState:
  """`state` with the params of `workdir`'s latest checkpoint."""
  _, source, _ = load(workdir, devices=run_.mesh.devices.flatten().tolist())
  want = jax.tree.map(lambda a: (a.shape, a.dtype), state.params)
  got = jax.tree.map(lambda a: (a.shape, a.dtype), source.params)
  if want != got:
    raise ConfigError(f"init_from: the params of {workdir} do not fit this "
                      f"model (different structure, shapes or dtypes)")
  params = jax.device_put(source.params, run_.shardings.params)
  return state.replace(params=params)


_MAX_IN_FLIGHT = 4


def _train_steps(run_: Run, state, step_fn, batches, start, ckpt, cfg_dict,
                 log, bar):
  """The inner loop: steps, logging with the NaN guard, saves, evals."""
  cfg = run_.cfg
  pending, last, since = [], {}, time.perf_counter()
  local_batches = batches.prefetched(start, cfg.steps)
  for step in range(start, cfg.steps):
    batch = batches.to_global(next(local_batches))
    state, metrics = step_fn(state, batch)
    pending.append(metrics)
    if len(pending) > _MAX_IN_FLIGHT:
      # Bound how far the host runs ahead of the devices (memory, and
      # XLA:CPU's in-process collectives, which can stall with hundreds of
      # multi-device programs queued).
      jax.block_until_ready(pending[-_MAX_IN_FLIGHT]["loss"])
    done = step + 1
    save = done % cfg.ckpt_every == 0 or done == cfg.steps
    if done % cfg.log_every == 0 or save:
      last = summarize(pending, done - len(pending))
      now = time.perf_counter()
      last["steps_per_sec"] = len(pending) / (now - since)
      pending, since = [], now
      log.write(done, "train", last)
      bar.set_postfix(loss=f"{last['loss']:.4g}")
    if save:
      ckpt.save(done, state, cfg_dict)
    if cfg.eval_every and done % cfg.eval_every == 0 and done < cfg.steps:
      log.write(done, "eval", run_.evaluate(state))
    bar.update(1)
  return state, last


def load(workdir: str | pathlib.Path, step: int | None = None, *,
         mesh: sharding.MeshConfig = sharding.MeshConfig(), devices=None
         ) -> tuple[Run, TrainState, int]:
  """Restores a trained run from its workdir onto any mesh.

  The model's input shapes come from the workdir's input spec; a run
  trained before it wrote one reads a batch of its dataset instead (and
  leaves the spec for next time, where the workdir is writable).

  Args:
    workdir: a training workdir.
    step: checkpoint step (latest if None).
    mesh: the mesh to restore onto (by default all devices, data-parallel);
      it need not be the mesh the checkpoint was written on.
    devices: devices for that mesh (default: all).

  Returns:
    (run, state, step).
  """
  workdir = pathlib.Path(workdir)
  ckpt_dir = workdir / "checkpoints"
  if not ckpt_dir.is_dir():
    raise ConfigError(f"{workdir} holds no checkpoints (no {ckpt_dir})")
  ckpt = Checkpointer(ckpt_dir, read_only=True)
  saved = ckpt.read_config(step)
  cfg = config_lib.from_dict(saved)
  cfg = dataclasses.replace(cfg, mesh=mesh)
  mesh = sharding.make_mesh(mesh, devices)
  first = _read_input_spec(workdir)
  if first is None:
    task = config_lib.task_of(cfg)
    batches = pipeline.TrainBatches(cfg.data, task, mesh, cfg.seed)
    with jax.set_mesh(mesh):
      first = batches[0]
    if os.access(workdir, os.W_OK):
      _write_input_spec(workdir, first)
  run_, _ = prepare(cfg, mesh, first)
  step, state = ckpt.restore(run_.abstract, expected_config=saved, step=step)
  ckpt.close()
  return run_, state, step
