"""`run(cfg, workdir)`: one training run, start to finish (or resume).

The sequence: config checks (the eval side's too), the workdir's history
(read only: refusals, or a finished run's summary), data, model and task;
then, holding the workdir's lock: sharded state (restored with its digests
verified, or initialised), the run's files, jitted step with donated state,
loop with progress bar, JSONL metrics and NaN guard, periodic and final
evaluation, final save. Everything that can reject the input runs before
anything is written; a finished run run again writes nothing and returns
the same summary.

Workdirs are `etils.epath` paths, so a URL (gs://bucket/run) is used like a
local folder, except that it cannot be locked (`zoo.cache.held_alone`).
"""

import contextlib
import dataclasses
import functools
import json
import sys
import time
from collections.abc import Callable
from typing import Any

import flax.linen as nn
import jax
from etils import epath

from train import config as config_lib
from train import metrics, plots, tasks
from train import workdir as workdir_lib
from train.data import pipeline
from train.metrics import MetricsLog, atomic_write_text, progress_bar, summarize
from train.state import TrainState, create_state, make_optimizer, train_step
from zoo import cache, registry, sharding
from zoo.checkpoint import Checkpointer
from zoo.errors import CheckpointCorrupt, ConfigError

# Shapes and dtypes of one prepared batch: enough to rebuild the model, so
# `load` needs no dataset once a run has written it.
INPUT_SPEC = "input_spec.json"
METRICS = workdir_lib.METRICS
# Held by the run training in a workdir; names it while held.
LOCK = ".lock"


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
    results = {}
    with self.scope(), plots.local_folder(workdir) as plot_dir:
      for evaluate in self.evaluators:
        batches = pipeline.eval_batches(self.cfg.data, self.task, self.mesh)
        results.update(evaluate(self.model, self.variables(state), batches,
                                plot_dir))
    return results

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
  tx = make_optimizer(cfg.optim, cfg.steps, task.optimizer)
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


def _write_input_spec(workdir: epath.Path, batch: dict) -> None:
  spec = {name: [list(a.shape), str(a.dtype)] for name, a in batch.items()}
  if jax.process_index() == 0:
    atomic_write_text(workdir / INPUT_SPEC, json.dumps(spec))


def _read_input_spec(workdir: epath.Path) -> dict | None:
  """Zero arrays shaped like a run's batch, or None if it wrote no spec (or
  a damaged one: the data can tell again)."""
  path = workdir / INPUT_SPEC
  if not path.exists():
    return None
  try:
    spec = json.loads(path.read_text())
    return {name: jax.numpy.zeros(shape, dtype)
            for name, (shape, dtype) in spec.items()}
  except (ValueError, TypeError):
    return None


def _say(message: str) -> None:
  if jax.process_index() == 0:
    print(message, file=sys.stderr)


def run(cfg: config_lib.TrainConfig, workdir: epath.PathLike,
        devices=None) -> dict[str, Any]:
  """Trains `cfg` in `workdir`, resuming from its latest checkpoint.

  Args:
    cfg: the run's config.
    workdir: where checkpoints, metrics and plots go (a path or a URL).
    devices: the devices to build the mesh from (default: all).

  Returns:
    The final summary: system, step, last train metrics and eval metrics.
  """
  workdir = epath.Path(workdir)
  mesh = sharding.make_mesh(cfg.mesh, devices)
  pipeline.check_batch_sizes(cfg.data, mesh)
  cfg_dict = config_lib.to_dict(cfg)
  history = workdir_lib.read_history(workdir, cfg, cfg_dict)
  if history.summary is not None:
    _say(f"{workdir} finished at step {history.step} already; nothing to do")
    return history.summary
  cache.check_writable(workdir)
  task = config_lib.task_of(cfg)
  batches = pipeline.TrainBatches(cfg.data, task, mesh, cfg.seed)
  pipeline.check_eval_data(cfg.data, task)
  with jax.set_mesh(mesh):
    first = batches[0]
  run_, init = prepare(cfg, mesh, first)
  # Other processes of a multi-host run write the same workdir with it.
  lock = (cache.held_alone(workdir / LOCK, f"workdir {workdir}")
          if jax.process_index() == 0 else contextlib.nullcontext())
  with lock:
    # Again: another run may have written here since the first look.
    history = workdir_lib.read_history(workdir, cfg, cfg_dict)
    if history.summary is not None:
      return history.summary
    return _train(run_, init, batches, first, workdir, cfg_dict, history)


def _train(run_: Run, init, batches, first, workdir: epath.Path,
           cfg_dict: dict, history: workdir_lib.History) -> dict[str, Any]:
  cfg, task = run_.cfg, run_.task
  ckpt = Checkpointer(workdir / "checkpoints", keep=cfg.keep_checkpoints)
  try:
    start, state = _restore_or_init(ckpt, run_, init, cfg_dict)
    if jax.process_index() == 0:
      workdir.mkdir(parents=True, exist_ok=True)
      atomic_write_text(workdir / "config.json", config_lib.to_json(cfg))
    _write_input_spec(workdir, first)
    log = MetricsLog(workdir / METRICS, resume_step=start)
    if history.changes:
      log.write(start, "config_change",
                {"changes": {k: list(v) for k, v in history.changes.items()}})
      _say(f"allow_config_change: from step {start} on, "
           + ", ".join(f"{k} = {b}" for k, (_, b) in history.changes.items()))
    step_fn = jax.jit(
        functools.partial(train_step, model=run_.model, tx=run_.tx,
                          loss_fn=task.loss, cfg=cfg),
        in_shardings=(run_.shardings,
                      {k: v.sharding for k, v in first.items()}),
        out_shardings=(run_.shardings, sharding.replicated(run_.mesh)),
        donate_argnums=0)
    with progress_bar(cfg.steps, start) as bar, run_.scope():
      state, last = _train_steps(run_, state, step_fn, batches, start, ckpt,
                                 cfg_dict, log, bar)
    ckpt.wait()
    # Resumed at the last step (its final evaluation had not finished).
    last = last or metrics.find_row(log.rows, cfg.steps, "train") or {}
    final = run_.evaluate(state,
                          workdir if jax.process_index() == 0 else None)
    log.write(cfg.steps, "eval", final)
    if jax.process_index() == 0:
      atomic_write_text(workdir / "eval.json", json.dumps(final, indent=2))
      plots.loss_curves(workdir / METRICS, workdir / "loss_curves.png")
  finally:
    ckpt.close()  # also on errors: never leave a save half-way
  return metrics.run_summary(cfg.system, cfg.steps, workdir, last, final)


def _restore_or_init(ckpt: Checkpointer, run_: Run, init, cfg_dict: dict
                     ) -> tuple[int, TrainState]:
  """(step, state): the latest intact checkpoint's, or a fresh start."""
  cfg = run_.cfg
  if ckpt.latest_step() is None:
    with run_.scope():
      state = init()
    if cfg.init_from:
      state = _init_params_from(cfg.init_from, state, run_)
    return 0, state
  try:
    start, state = ckpt.restore(run_.abstract, expected_config=cfg_dict,
                                fallback=cfg.restore_fallback)
  except CheckpointCorrupt as e:
    if cfg.restore_fallback:
      raise
    raise workdir_lib.suggest_fallback(e) from None
  for step in ckpt.all_steps():
    if step > start:  # corrupt: out of the way of this run's saves
      _say(f"moved corrupt checkpoint step {step} to {ckpt.set_aside(step)}")
  _say(f"resuming from step {start}")
  return start, state


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
    state, step_metrics = step_fn(state, batch)
    pending.append(step_metrics)
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


def load(workdir: epath.PathLike, step: int | None = None, *,
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
  workdir = epath.Path(workdir)
  ckpt_dir = workdir / "checkpoints"
  if not ckpt_dir.is_dir():
    raise ConfigError(f"{workdir} holds no checkpoints (no {ckpt_dir})")
  ckpt = Checkpointer(ckpt_dir, read_only=True)
  try:
    saved = ckpt.read_config(step)
    cfg = dataclasses.replace(config_lib.from_dict(saved), mesh=mesh)
    mesh = sharding.make_mesh(mesh, devices)
    first = _read_input_spec(workdir)
    if first is None:
      task = config_lib.task_of(cfg)
      batches = pipeline.TrainBatches(cfg.data, task, mesh, cfg.seed)
      with jax.set_mesh(mesh):
        first = batches[0]
      with contextlib.suppress(OSError):  # a read-only workdir: no spec
        _write_input_spec(workdir, first)
    run_, _ = prepare(cfg, mesh, first)
    step, state = ckpt.restore(run_.abstract, expected_config=saved,
                               step=step)
  finally:
    ckpt.close()
  return run_, state, step
