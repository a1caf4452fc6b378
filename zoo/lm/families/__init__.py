"""Checkpoint families of `zoo.lm.checkpoints`, one module each.

A family reads one kind of Hugging Face causal-LM checkpoint into the zoo's
`DecoderLM`: its `config.json` becomes a `DecoderConfig` (`decoder_config`)
and back (`hf_config`), and `tensors(config)` names every checkpoint tensor
with the params it holds and its layout. Families: `llama` (Llama 2 and 3,
and checkpoints with the same names), `qwen2` (Llama's names with query,
key and value biases), `gpt2`. A new family is a new module here: a frozen
dataclass subclassing `Family` with a `kind` tag and the architectures it
reads.
"""

import abc
import dataclasses
import math
import re
from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np

from zoo.errors import CheckpointError
from zoo.lm.decoder import DecoderConfig
from zoo.plugins import Plugin

# A param's path, e.g. ("block_0", "mlp", "up", "kernel").
Path = tuple[str, ...]

# Hugging Face activation names -> `zoo.layers.mlps.ACTIVATIONS`.
ACTIVATIONS = {"silu": "silu", "swish": "silu", "gelu": "gelu",
               "gelu_new": "gelu_tanh", "gelu_pytorch_tanh": "gelu_tanh",
               "gelu_fast": "gelu_tanh", "relu": "relu"}
HF_ACTIVATIONS = {"silu": "silu", "gelu": "gelu", "gelu_tanh": "gelu_new",
                  "relu": "relu"}
# A norm's params -> the names of its tensors.
_NORM_TENSORS = {"scale": "weight", "bias": "bias"}


@dataclasses.dataclass(frozen=True)
class Tensor:
  """One checkpoint tensor and the params it holds.

  Attributes:
    name: its name in the checkpoint.
    params: paths of the params it holds; several are concatenated along
      its output axis (GPT-2's fused query/key/value).
    layout: "linear" (a torch Linear weight, [out, in]), "conv1d" (GPT-2's
      [in, out]), "vector" (1-D: norms, biases) or "table" (embeddings,
      [rows, width] as the param is).
    inputs: leading input axes of the params (2 for the attention output
      kernel [heads, head_dim, embed]).
  """

  name: str
  params: tuple[Path, ...]
  layout: str = "linear"
  inputs: int = 1

  def _outputs(self, shapes) -> list[int]:
    start = self.inputs if self.layout in ("linear", "conv1d") else 0
    return [math.prod(s[start:]) for s in shapes]

  def file_shape(self, shapes: Sequence[tuple[int, ...]]) -> tuple[int, ...]:
    """The checkpoint shape that holds params of `shapes`."""
    if self.layout == "table":
      return tuple(shapes[0])
    outputs = sum(self._outputs(shapes))
    fan_in = math.prod(shapes[0][:self.inputs])
    return {"linear": (outputs, fan_in), "conv1d": (fan_in, outputs),
            "vector": (outputs,)}[self.layout]

  def to_params(self, array: np.ndarray, shapes) -> list[np.ndarray]:
    """Checkpoint array -> the params (views where the layout allows)."""
    if self.layout == "linear":
      array = array.T
    elif self.layout != "conv1d":
      array = array.reshape(1, -1)
    cuts = np.cumsum(self._outputs(shapes))[:-1]
    return [part.reshape(shape) for part, shape in
            zip(np.split(array, cuts, axis=1), shapes)]

  def from_params(self, arrays: Sequence[np.ndarray]) -> np.ndarray:
    """The params -> the checkpoint array (the inverse of `to_params`)."""
    shapes = [a.shape for a in arrays]
    rows = 1 if self.layout in ("vector", "table") else math.prod(
        shapes[0][:self.inputs])
    joined = np.concatenate([a.reshape(rows, -1) for a in arrays], axis=1)
    if self.layout == "linear":
      joined = joined.T
    return np.ascontiguousarray(joined).reshape(self.file_shape(shapes))


def norm_tensors(name: str, path: Path, config: DecoderConfig
                 ) -> list[Tensor]:
  """`name.weight` (and `name.bias` for LayerNorm) of the norm at `path`."""
  return [Tensor(f"{name}.{_NORM_TENSORS[p]}", ((*path, p),), "vector")
          for p in config.block.norm.params]


def linear_tensors(name: str, paths: Sequence[Path], bias: bool,
                   layout: str = "linear", inputs: int = 1) -> list[Tensor]:
  """`name.weight` holding the kernels at `paths` (and `name.bias`)."""
  out = [Tensor(f"{name}.weight", tuple((*p, "kernel") for p in paths),
                layout, inputs)]
  if bias:
    out.append(Tensor(f"{name}.bias", tuple((*p, "bias") for p in paths),
                      "vector"))
  return out


class HFConfig:
  """Typed reads of a config.json; errors name the file and the key."""

  def __init__(self, values: dict[str, Any], source: str):
    self.values, self.source = values, source

  def get(self, key: str, default: Any = None, kind: type | None = None):
    value = self.values.get(key)
    value = default if value is None else value
    if value is None:
      raise CheckpointError(f"{self.source}: {key!r} is missing")
    if kind is not None and not isinstance(value, kind):
      raise CheckpointError(f"{self.source}: {key!r} must be "
                            f"{kind.__name__}, got {value!r}")
    return value

  def require(self, key: str, allowed: Any, default: Any) -> None:
    """CheckpointError unless `key` (or its default) equals `allowed`."""
    value = self.values.get(key, default)
    if value != allowed:
      raise CheckpointError(f"{self.source}: {key}={value!r} is not "
                            f"supported (only {allowed!r})")

  def activation(self, key: str, default: str) -> str:
    name = self.get(key, default, str)
    if name not in ACTIVATIONS:
      raise CheckpointError(f"{self.source}: {key}={name!r} is not "
                            f"supported (supported: {', '.join(ACTIVATIONS)})")
    return ACTIVATIONS[name]


@dataclasses.dataclass(frozen=True)
class Family(Plugin, abc.ABC):
  """Base of the checkpoint families.

  Attributes:
    architectures: the config.json `architectures` it reads (class attr).
    model_type: the config.json `model_type` it reads (class attr).
    ignored: regular expressions of checkpoint tensors that hold no weights
      (buffers such as causal masks and rotary frequencies); class attr.
  """

  package = "zoo.lm.families"
  architectures: ClassVar[tuple[str, ...]] = ()
  model_type: ClassVar[str] = ""
  ignored: ClassVar[tuple[str, ...]] = ()

  @abc.abstractmethod
  def decoder_config(self, hf: HFConfig, dtype: str) -> DecoderConfig:
    """The DecoderConfig of a config.json; CheckpointError naming the key
    of an option the decoder does not have."""

  @abc.abstractmethod
  def hf_config(self, config: DecoderConfig) -> dict[str, Any]:
    """The config.json keys that describe `config`."""

  @abc.abstractmethod
  def tensors(self, config: DecoderConfig) -> list[Tensor]:
    """Every tensor of a checkpoint of `config`, each param in one."""

  def canonical(self, name: str) -> str:
    """A checkpoint's tensor name as `tensors` spells it."""
    return name

  def is_ignored(self, name: str, config: DecoderConfig) -> bool:
    """Buffers, and a tied model's copy of the embedding as its head."""
    if config.tied_embeddings and name == "lm_head.weight":
      return True
    return any(re.fullmatch(p, name) for p in self.ignored)


def family_of(hf: HFConfig) -> Family:
  """The family that reads this config.json: by `architectures`, else by
  `model_type`; CheckpointError naming what it holds otherwise."""
  kinds = [k() for k in Family.kinds().values()]
  archs = hf.values.get("architectures") or []
  for family in kinds:
    if set(archs) & set(family.architectures):
      return family
  model_type = hf.values.get("model_type")
  for family in kinds:
    if not archs and model_type == family.model_type:
      return family
  known = sorted(a for f in kinds for a in f.architectures)
  raise CheckpointError(
      f"{hf.source}: unknown architecture {archs or model_type!r}; known: "
      f"{', '.join(known)}")
