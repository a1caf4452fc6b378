"""Train configs: frozen dataclasses, config files and typed overrides.

A config file is a Python file defining `get_config(arg: str) -> TrainConfig`;
`FILE:arg` passes `arg` (comma-separated flags and key=value pairs, e.g.
`simvq.py:smoke,seed=1`). `--set a.b=value` replaces one leaf; the value is
parsed with the leaf's declared type and unknown keys are errors. A plug-in
group (`zoo.plugins`) is switched by its kind, `--set
model.quantizer.codebook=ema`, and its fields are then set as usual.
"""

import dataclasses
import importlib.util
import json
import math
import pathlib
import types
import typing
from typing import Any

from zoo import plugins, registry
from zoo.errors import ConfigError
from zoo.plugins import Plugin
from zoo.sharding import MeshConfig

CONFIG_DIR = pathlib.Path(__file__).resolve().parent / "configs"


@dataclasses.dataclass(frozen=True)
class OptimConfig:
  name: typing.Literal["adam", "adamw", "sgd"] = "adam"
  learning_rate: float = 1e-3
  weight_decay: float = 0.0
  warmup_steps: int = 0
  schedule: typing.Literal["constant", "cosine"] = "constant"
  grad_clip_norm: float = 0.0  # 0 disables clipping

  def __post_init__(self):
    for name in ("learning_rate", "weight_decay", "grad_clip_norm",
                 "warmup_steps"):
      value = getattr(self, name)
      if not (math.isfinite(value) and value >= 0):
        raise ConfigError(f"{name} must be a finite number >= 0, got {value}")


@dataclasses.dataclass(frozen=True)
class DataConfig:
  name: str = "digits"
  train_split: str = "train"
  eval_split: str = "test"
  batch_size: int = 128
  eval_batch_size: int = 512
  data_dir: str = ""  # empty: $ZOO_DATA_DIR or the user cache


@dataclasses.dataclass(frozen=True)
class TrainConfig:
  """Everything a training run needs; `model` is the system's model config."""

  system: str
  model: Any
  # The train task, "train.tasks.<name>:TASK"; empty: the system's task.
  task: str = ""
  data: DataConfig = DataConfig()
  optim: OptimConfig = OptimConfig()
  mesh: MeshConfig = MeshConfig()
  steps: int = 1000
  seed: int = 0
  log_every: int = 50
  eval_every: int = 0  # 0: evaluate at the end only
  ckpt_every: int = 500
  keep_checkpoints: int = 2
  # A training workdir whose latest params start this run (fine-tuning);
  # the optimizer starts fresh. Empty: random initialisation.
  init_from: str = ""
  # Resuming, when the latest checkpoint is corrupt: take the newest intact
  # one (and move the corrupt ones aside) instead of stopping.
  restore_fallback: bool = False
  # Resuming with other values of fields that change what is trained (the
  # seed, data, optimizer: all but RESUME_FREE): allowed only when set, and
  # then recorded as a "config_change" row in metrics.jsonl.
  allow_config_change: bool = False

  def __post_init__(self):
    try:
      registry.get(self.system)
    except KeyError as e:
      raise ConfigError(e.args[0]) from None
    for name in ("steps", "log_every", "ckpt_every", "keep_checkpoints"):
      if getattr(self, name) < 1:
        raise ConfigError(f"{name} must be >= 1, got {getattr(self, name)}")
    if self.eval_every < 0:
      raise ConfigError(f"eval_every must be >= 0, got {self.eval_every}")
    if not 0 <= self.seed < 2**32:  # numpy and jax seeds are unsigned
      raise ConfigError(f"seed must be in [0, 2**32), got {self.seed}")
    for name in ("batch_size", "eval_batch_size"):
      if getattr(self.data, name) < 1:
        raise ConfigError(f"data.{name} must be >= 1, got "
                          f"{getattr(self.data, name)}")


# Fields a resumed run may change freely: how long it runs, how often it
# logs, saves and evaluates, where it runs and reads, and these policies.
RESUME_FREE = ("steps", "log_every", "eval_every", "ckpt_every",
               "keep_checkpoints", "mesh", "data.data_dir",
               "data.eval_batch_size", "init_from", "restore_fallback",
               "allow_config_change")


def parse_arg(arg: str, **defaults) -> types.SimpleNamespace:
  """Parses a config file's `:arg` string against typed defaults.

  `parse_arg("smoke,seed=3", smoke=False, seed=0)` gives smoke=True, seed=3.
  A bare name sets a bool to True. Unknown names are errors.
  """
  values = dict(defaults)
  for item in filter(None, (s.strip() for s in arg.split(","))):
    key, eq, raw = item.partition("=")
    if key not in defaults:
      raise ConfigError(f"config arg {key!r} is unknown; known: "
                        f"{', '.join(sorted(defaults))}")
    if not eq:
      if not isinstance(defaults[key], bool):
        raise ConfigError(f"config arg {key!r} needs a value ({key}=...)")
      values[key] = True
    else:
      values[key] = _parse_value(raw, type(defaults[key]), key)
  return types.SimpleNamespace(**values)


def _parse_value(raw: str, tp: Any, path: str) -> Any:
  """Parses `raw` as type `tp`, strictly."""
  origin = typing.get_origin(tp)
  if origin in (typing.Union, types.UnionType):
    options = typing.get_args(tp)
    if type(None) in options and raw.lower() in ("none", "null"):
      return None
    errors = []
    for option in options:
      if option is type(None):
        continue
      try:
        return _parse_value(raw, option, path)
      except ConfigError as e:
        errors.append(str(e))
    raise ConfigError("; ".join(errors))
  if origin is typing.Literal:
    choices = typing.get_args(tp)
    for choice in choices:
      if raw == str(choice):
        return choice
    raise ConfigError(f"{path} must be one of {list(choices)}, got {raw!r}")
  if origin is tuple:
    (item_type, *_) = typing.get_args(tp)
    parts = [p for p in raw.strip("()[]").split(",") if p.strip()]
    return tuple(_parse_value(p.strip(), item_type, path) for p in parts)
  if tp is bool:
    lowered = raw.lower()
    if lowered in ("true", "1", "yes"):
      return True
    if lowered in ("false", "0", "no"):
      return False
    raise ConfigError(f"{path} must be a bool (true/false), got {raw!r}")
  if tp in (int, float):
    try:
      return tp(raw)
    except ValueError:
      raise ConfigError(f"{path} must be {tp.__name__}, got {raw!r}") from None
  if tp is str:
    return raw
  raise ConfigError(f"{path} has type {tp} that cannot be set from the "
                    "command line")


def _field_types(obj) -> dict[str, Any]:
  return typing.get_type_hints(type(obj))


def _plugin_of_kind(slot: type, kind: str, path: str) -> type:
  """The config class of plug-in `kind` for the slot typed `slot`."""
  if not (isinstance(slot, type) and issubclass(slot, Plugin)):
    raise ConfigError(f"{path}: the field is not a plug-in slot")
  try:
    return slot.of_kind(kind)
  except ValueError as e:
    raise ConfigError(f"{path}: {e}") from None


def _replace_leaf(obj, path: list[str], value: Any, full: str):
  """Returns obj with the leaf at `path` replaced by `value` (parsed)."""
  name = path[0]
  names = [f.name for f in dataclasses.fields(obj)]
  if name not in names:
    where = ".".join(full.split(".")[:-len(path)]) or "the config"
    raise ConfigError(f"unknown config key {full!r}: {where} has no field "
                      f"{name!r} (fields: {', '.join(names)})")
  current = getattr(obj, name)
  if len(path) > 1:
    if not dataclasses.is_dataclass(current):
      raise ConfigError(f"unknown config key {full!r}: {name!r} is a value, "
                        "not a group")
    new = _replace_leaf(current, path[1:], value, full)
  elif isinstance(current, Plugin) and isinstance(value, str):
    new = _plugin_of_kind(_field_types(obj)[name], value, full)()
  elif dataclasses.is_dataclass(current):
    fields = [f.name for f in dataclasses.fields(current)]
    raise ConfigError(f"config key {full!r} is a group; set one of its "
                      f"fields: {fields}")
  else:
    tp = _field_types(obj)[name]
    if tp is Any:
      tp = type(current)
    new = _parse_value(value, tp, full) if isinstance(value, str) else value
  try:
    return dataclasses.replace(obj, **{name: new})
  except (TypeError, ValueError) as e:
    message = str(e)
    if message.startswith(f"{name} "):  # names the field: say where it is
      message = full + message[len(name):]
    elif not message.startswith(full):
      message = f"{full}: {message}"
    raise ConfigError(message) from None


def apply_overrides(cfg: TrainConfig, overrides: list[str]) -> TrainConfig:
  """Applies `a.b=value` strings in order; errors name the bad key."""
  for item in overrides:
    key, eq, raw = item.partition("=")
    if not eq or not key:
      raise ConfigError(f"override {item!r} must look like key.path=value")
    cfg = _replace_leaf(cfg, key.strip().split("."), raw.strip(), key.strip())
  return cfg


def resolve_config_path(spec: str) -> tuple[pathlib.Path, str]:
  """Splits `FILE[:arg]` and finds FILE (as given, or in train/configs)."""
  path_str, _, arg = spec.partition(":")
  path = pathlib.Path(path_str)
  for candidate in (path, CONFIG_DIR / path.name):
    if candidate.is_file():
      return candidate, arg
  known = ", ".join(sorted(p.name for p in CONFIG_DIR.glob("*.py")
                           if not p.name.startswith("_")))
  raise ConfigError(f"config file {path_str!r} not found (known in "
                    f"train/configs: {known})")


def load_config(spec: str, overrides: list[str] = ()) -> TrainConfig:
  """Loads `FILE[:arg]`, then applies `--set` overrides."""
  path, arg = resolve_config_path(spec)
  module_spec = importlib.util.spec_from_file_location(
      f"zoo_config_{path.stem}", path)
  module = importlib.util.module_from_spec(module_spec)
  module_spec.loader.exec_module(module)
  if not hasattr(module, "get_config"):
    raise ConfigError(f"config file {path} defines no get_config(arg)")
  cfg = module.get_config(arg)
  if not isinstance(cfg, TrainConfig):
    raise ConfigError(f"{path}: get_config must return a TrainConfig, got "
                      f"{type(cfg).__name__}")
  if not task_ref(cfg):
    raise ConfigError(f"system {cfg.system!r} has nothing to train")
  cfg = apply_overrides(cfg, list(overrides))
  # Checked once all overrides are in: they may fix each other.
  if cfg.optim.schedule == "cosine" and cfg.optim.warmup_steps >= max(
      cfg.steps, 2):
    raise ConfigError(f"optim.warmup_steps={cfg.optim.warmup_steps} leaves "
                      f"no steps to decay over with the cosine schedule: it "
                      f"must be below steps={cfg.steps}")
  return cfg


def task_ref(cfg: TrainConfig) -> str | None:
  """The train task's reference: the config's, or else its system's."""
  return cfg.task or registry.get(cfg.system).task


def task_of(cfg: TrainConfig):
  """The `train.tasks.Task` a config trains; ConfigError if it names none."""
  ref = task_ref(cfg)
  if not ref:
    raise ConfigError(f"system {cfg.system!r} has nothing to train")
  try:
    return registry.resolve(ref)
  except ValueError as e:
    raise ConfigError(f"task: {e}") from None


def _optional_group(obj, key: str):
  """A default instance of the dataclass in `obj.key`'s `X | None` type."""
  if not dataclasses.is_dataclass(obj) or key not in _field_types(obj):
    return None
  options = typing.get_args(_field_types(obj)[key])
  groups = [t for t in options if dataclasses.is_dataclass(t)]
  return groups[0]() if groups else None


def to_dict(cfg) -> dict[str, Any]:
  """The config as nested dicts; plug-in groups carry their `kind`."""
  return plugins.to_dict(cfg)


def to_json(cfg) -> str:
  return json.dumps(to_dict(cfg), indent=2, sort_keys=True)


def from_dict(d: dict[str, Any]) -> TrainConfig:
  """Rebuilds a TrainConfig saved by `to_dict`, typed by the system's config.

  Keys the current code does not know are errors (the checkpoint was written
  by an incompatible version).
  """
  try:
    system = registry.get(d["system"])
  except KeyError as e:
    raise ConfigError(f"saved config names an unknown system: {e}") from None
  cfg = TrainConfig(system=d["system"], model=system.default_config())
  if d.get("task") and ":" not in d["task"]:
    # Written when tasks were found by name: the same task's reference.
    d = {**d, "task": f"train.tasks.{d['task']}:TASK"}

  def fill(obj, values, prefix):
    # One replace per group: fields may be checked against each other.
    names = {f.name for f in dataclasses.fields(obj)}
    changes = {}
    for key, value in values.items():
      full = f"{prefix}{key}"
      if key not in names:
        raise ConfigError(f"unknown config key {full!r}")
      if isinstance(value, dict):
        sub = getattr(obj, key)
        if sub is None:  # an optional group left at None by the default
          sub = _optional_group(obj, key)
        if isinstance(sub, Plugin):  # the saved kind, from its defaults
          value = dict(value)
          sub = _plugin_of_kind(_field_types(obj)[key],
                                str(value.pop("kind", None)), full)()
        if not dataclasses.is_dataclass(sub):
          raise ConfigError(f"unknown config key {full!r}")
        changes[key] = fill(sub, value, full + ".")
      else:
        changes[key] = tuple(value) if isinstance(value, list) else value
    try:
      return dataclasses.replace(obj, **changes)
    except (TypeError, ValueError) as e:
      raise ConfigError(f"{prefix or 'config'}: {e}") from None

  return fill(cfg, d, "")
