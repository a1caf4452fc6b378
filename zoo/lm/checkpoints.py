"""Your own checkpoint: Hugging Face Llama, Qwen2 and GPT-2 files in the
zoo's decoder, and back.

    ckpt = checkpoints.load("path/to/dir")          # nothing is downloaded
    out = sampling.generate(ckpt.lm, prompt, 64)    # any ops.decoding strategy
    ids = ckpt.tokenizer.encode("def f(x):").ids
    checkpoints.save("out/dir", ckpt.config, ckpt.params, family=ckpt.family,
                     tokenizer=ckpt.tokenizer, hf_config=ckpt.hf_config)

A checkpoint directory holds `config.json` (its `architectures` or
`model_type` picks the family, `zoo.lm.families`), the weights as
`model.safetensors`, or shards listed by `model.safetensors.index.json`
(or, without either, every `*.safetensors` file), and `tokenizer.json`
(read with `tokenizers`). Every tensor is mapped by name with its shape
checked before any is read; a missing, unexpected or misshapen tensor, a
missing file or an option the decoder does not have is one
`CheckpointError` naming it. Tensors are then read one at a time (memory
mapped) and placed on the devices, so host memory holds one tensor beside
the params, never a second copy of the model; with a mesh, each goes
straight to its shards.

`params` carry the zoo's logical axis names (`nn.LogicallyPartitioned`, as
`DecoderLM.init` makes them), so `zoo.sharding.logical_shardings(params,
mesh)` shards a loaded model as it shards the zoo's own.
"""

import dataclasses
import itertools
import json
import os
import pathlib
import shutil
from collections.abc import Iterable
from typing import Any

import flax.linen as nn
import jax
import numpy as np
import safetensors
import safetensors.numpy
import tokenizers
from flax import traverse_util
from jax import numpy as jnp

from zoo import sharding
from zoo.errors import CheckpointError, ConfigError
from zoo.lm.decoder import CachedLM, DecoderConfig, DecoderLM
from zoo.lm.families import Family, HFConfig, Tensor, family_of

CONFIG = "config.json"
WEIGHTS = "model.safetensors"
INDEX = "model.safetensors.index.json"
TOKENIZER = "tokenizer.json"
_FILE_DTYPES = {"float32": "F32", "bfloat16": "BF16", "float16": "F16"}
_MAX_SHARD_BYTES = 5 * 2**30  # Hugging Face's default shard size


@dataclasses.dataclass(frozen=True, eq=False)
class Checkpoint:
  """A loaded checkpoint.

  Attributes:
    family: the family's kind, "llama", "qwen2" or "gpt2".
    config: the decoder's config.
    params: its params, boxed with logical axis names.
    tokenizer: from tokenizer.json; None when loaded without.
    hf_config: the config.json it was read from.
  """

  family: str
  config: DecoderConfig
  params: Any
  tokenizer: tokenizers.Tokenizer | None
  hf_config: dict

  @property
  def lm(self) -> CachedLM:
    """The model as an `ops.decoding.DecodingModel`."""
    return CachedLM(nn.meta.unbox(self.params), DecoderLM(self.config))


def abstract_params(config: DecoderConfig) -> dict:
  """`DecoderLM(config)`'s params as boxed ShapeDtypeStructs (no memory)."""
  tokens = jax.ShapeDtypeStruct((1, 1), jnp.int32)
  return jax.eval_shape(DecoderLM(config).init, jax.random.key(0),
                        tokens)["params"]


def _read_json(path: pathlib.Path, what: str) -> dict:
  if not path.is_file():
    raise CheckpointError(f"{path} is missing ({what})")
  try:
    values = json.loads(path.read_text())
  except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
    raise CheckpointError(f"{path} is not readable JSON: {e}") from None
  if not isinstance(values, dict):
    raise CheckpointError(f"{path} must hold a JSON object")
  return values


@dataclasses.dataclass(frozen=True)
class StoredTensor:
  """Where a tensor is, and its header's shape and safetensors dtype."""

  file: pathlib.Path
  shape: tuple[int, ...]
  dtype: str


def weight_files(directory: pathlib.Path) -> dict[str, StoredTensor]:
  """Every tensor of the checkpoint's safetensors files (from the index,
  the single file, or every *.safetensors), read from their headers;
  CheckpointError naming a missing or unreadable file."""
  if (directory / INDEX).exists():
    index = _read_json(directory / INDEX, "the shard index")
    where = index.get("weight_map")
    if not isinstance(where, dict) or not where:
      raise CheckpointError(f"{directory / INDEX} has no weight_map")
    files = sorted(set(where.values()))
  elif (directory / WEIGHTS).exists():
    files = [WEIGHTS]
  else:
    files = sorted(p.name for p in directory.glob("*.safetensors"))
  if not files:
    others = sorted(p.name for p in directory.glob("*.bin"))
    hint = (f" (found {', '.join(others)}: only safetensors are read)"
            if others else "")
    raise CheckpointError(f"no {WEIGHTS}, {INDEX} or *.safetensors in "
                          f"{directory}{hint}")
  missing = [f for f in files if not (directory / f).is_file()]
  if missing:
    raise CheckpointError(f"{directory}: weight file(s) missing: "
                          f"{', '.join(missing)}")
  found: dict[str, StoredTensor] = {}
  for name in files:
    try:
      with safetensors.safe_open(directory / name, "numpy") as f:
        for key in f.keys():
          view = f.get_slice(key)
          found.setdefault(key, StoredTensor(
              directory / name, tuple(view.get_shape()), view.get_dtype()))
    except Exception as e:  # safetensors raises its own error types
      raise CheckpointError(f"{directory / name} is not a readable "
                            f"safetensors file: {e}") from None
  if (directory / INDEX).exists():
    lost = sorted(k for k, f in where.items()
                  if k not in found or found[k].file != directory / f)
    if lost:
      raise CheckpointError(f"{directory / INDEX} lists tensors its files "
                            f"do not hold: {', '.join(lost[:5])}")
  return found


def _shapes(specs: Iterable[Tensor], flat: dict) -> dict[str, list]:
  """Tensor name -> the shapes of its params (boxed or not)."""
  return {t.name: [nn.meta.unbox(flat[p]).shape for p in t.params]
          for t in specs}


def _match(family: Family, config: DecoderConfig, stored: dict, flat: dict,
           source: pathlib.Path) -> tuple[list[Tensor], dict[str, str]]:
  """(the family's tensors, their names as stored), after checking names,
  shapes and dtypes; one CheckpointError lists every problem."""
  specs = family.tensors(config)
  in_files = {family.canonical(n): n for n in stored}
  names = {t.name for t in specs}
  missing = sorted(names - set(in_files))
  unexpected = sorted(in_files[n] for n in set(in_files) - names
                      if not family.is_ignored(n, config))
  wrong = []
  shapes = _shapes(specs, flat)
  for spec in specs:
    if spec.name not in in_files:
      continue
    found = stored[in_files[spec.name]]
    want = spec.file_shape(shapes[spec.name])
    if found.shape != want or found.dtype not in _FILE_DTYPES.values():
      wrong.append(f"{in_files[spec.name]} {found.dtype}{list(found.shape)} "
                   f"(expected a float {list(want)})")
  problems = [f"{label}: {', '.join(items)}" for label, items in (
      ("missing", missing), ("unexpected", unexpected),
      ("wrong shape or dtype", wrong)) if items]
  if problems:
    raise CheckpointError(f"{source} does not match a {family.kind} model "
                          f"of its config.json: " + "; ".join(problems))
  return specs, in_files


def load(directory: str | os.PathLike, *, dtype: str = "float32",
         mesh: jax.sharding.Mesh | None = None,
         tokenizer: bool = True) -> Checkpoint:
  """Reads a Llama, Qwen2 or GPT-2 checkpoint directory.

  Args:
    directory: config.json, safetensors weights, tokenizer.json.
    dtype: "float32" or "bfloat16": the params' and the computation's.
    mesh: places each param on its shards of this mesh (the rules of
      `zoo.sharding`); default the first device.
    tokenizer: read tokenizer.json (required then).

  Returns:
    The Checkpoint.

  Raises:
    CheckpointError: a missing directory or file, an unknown architecture,
      an unsupported option, or tensors that do not match the config.
  """
  directory = pathlib.Path(directory)
  if not directory.is_dir():
    raise CheckpointError(f"checkpoint directory {directory} does not exist")
  source = directory / CONFIG
  hf = HFConfig(_read_json(source, "the model's config"), str(source))
  family = family_of(hf)
  try:
    config = family.decoder_config(hf, dtype)
  except ConfigError as e:
    raise CheckpointError(f"{source}: {e}") from None
  tok = None
  if tokenizer:
    if not (directory / TOKENIZER).is_file():
      raise CheckpointError(f"{directory / TOKENIZER} is missing (the "
                            f"tokenizer; pass tokenizer=False to skip it)")
    tok = tokenizers.Tokenizer.from_file(str(directory / TOKENIZER))
  stored = weight_files(directory)
  abstract = abstract_params(config)
  flat = traverse_util.flatten_dict(abstract)
  specs, in_files = _match(family, config, stored, flat, directory)
  shards = traverse_util.flatten_dict(
      sharding.logical_shardings(abstract, mesh)) if mesh else {}
  shapes = _shapes(specs, flat)
  arrays = {}
  by_file = lambda t: str(stored[in_files[t.name]].file)
  for file, group in itertools.groupby(sorted(specs, key=by_file), by_file):
    with safetensors.safe_open(file, "numpy") as f:
      for spec in group:  # one tensor in host memory at a time
        tensor = f.get_tensor(in_files[spec.name])
        for path, part in zip(spec.params,
                              spec.to_params(tensor, shapes[spec.name])):
          arrays[path] = jax.device_put(
              np.asarray(part, jnp.dtype(dtype)),
              shards.get(path, jax.devices()[0]))
  boxed = {p: (flat[p].replace_boxed(a)
               if isinstance(flat[p], nn.meta.AxisMetadata) else a)
           for p, a in arrays.items()}
  return Checkpoint(family.kind, config, traverse_util.unflatten_dict(boxed),
                    tok, hf.values)


def _shard_plan(tensors: list[tuple[str, int]], max_bytes: int
                ) -> list[list[str]]:
  """Consecutive tensors grouped into files of at most max_bytes (a larger
  tensor gets a file of its own)."""
  plan, size = [[]], 0
  for name, nbytes in tensors:
    if plan[-1] and size + nbytes > max_bytes:
      plan.append([])
      size = 0
    plan[-1].append(name)
    size += nbytes
  return plan


def save(directory: str | os.PathLike, config: DecoderConfig, params, *,
         family: str = "llama", tokenizer: tokenizers.Tokenizer | None = None,
         dtype: str | None = None, hf_config: dict | None = None,
         max_shard_bytes: int = _MAX_SHARD_BYTES) -> pathlib.Path:
  """Writes params in a family's checkpoint layout, which `load` and
  Hugging Face's `from_pretrained` read.

  The files are written into `<directory>.partial` and renamed into place,
  so `directory` holds a whole checkpoint or nothing; host memory holds one
  file's tensors at a time.

  Args:
    directory: a new (or empty) directory.
    config: the decoder's config.
    params: its params (boxed or not), e.g. `Checkpoint.params` or a
      trained `DecoderLM`'s.
    family: "llama", "qwen2" or "gpt2" (the zoo's default decoder is a
      Llama with a tied head).
    tokenizer: written as tokenizer.json when given.
    dtype: "float32", "bfloat16" or "float16" on disk; default the params'.
    hf_config: config.json keys to keep (token ids, ...); the family's own
      keys are always written from `config`.
    max_shard_bytes: files beyond one are listed by
      model.safetensors.index.json.

  Returns:
    The directory.

  Raises:
    CheckpointError: a non-empty directory, or a config the family cannot
      express.
  """
  directory = pathlib.Path(directory)
  if directory.exists() and (not directory.is_dir() or any(
      directory.iterdir())):
    raise CheckpointError(f"{directory} exists and is not an empty "
                          f"directory; nothing was written")
  kind = Family.of_kind(family)()
  values = {**(hf_config or {}), **kind.hf_config(config)}
  flat = traverse_util.flatten_dict(nn.meta.unbox(params))
  specs = kind.tensors(config)
  shapes = _shapes(specs, flat)
  dtype = dtype or str(next(iter(flat.values())).dtype)
  if dtype not in _FILE_DTYPES:
    raise CheckpointError(f"dtype must be one of {', '.join(_FILE_DTYPES)}, "
                          f"got {dtype!r}")
  itemsize = jnp.dtype(dtype).itemsize
  sizes = [(t.name, itemsize * int(np.prod(t.file_shape(shapes[t.name]))))
           for t in specs]
  plan = _shard_plan(sizes, max_shard_bytes)
  names = [WEIGHTS] if len(plan) == 1 else [
      f"model-{i + 1:05d}-of-{len(plan):05d}.safetensors"
      for i in range(len(plan))]
  values.update(dtype=dtype, torch_dtype=dtype)
  by_name = {t.name: t for t in specs}
  partial = directory.with_name(directory.name + ".partial")
  shutil.rmtree(partial, ignore_errors=True)
  partial.mkdir(parents=True)
  for file_name, group in zip(names, plan):
    safetensors.numpy.save_file(
        {n: by_name[n].from_params([np.asarray(flat[p], jnp.dtype(dtype))
                                    for p in by_name[n].params])
         for n in group}, partial / file_name, metadata={"format": "pt"})
  if len(plan) > 1:
    total = sum(n for _, n in sizes)
    index = {"metadata": {"total_size": total},
             "weight_map": {n: f for f, g in zip(names, plan) for n in g}}
    (partial / INDEX).write_text(json.dumps(index, indent=2))
  (partial / CONFIG).write_text(json.dumps(values, indent=2, sort_keys=True))
  if tokenizer is not None:
    tokenizer.save(str(partial / TOKENIZER))
  if directory.exists():
    directory.rmdir()
  partial.rename(directory)
  return directory
