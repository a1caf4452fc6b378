"""`text_target_activations`: residual-stream vectors of the zoo's text LM.

The "text" decoding target (`train.store.lm`: the 2.2M-parameter decoder
trained once on `stdlib_text_bpe` and cached) read at hook point
`block_1/resid_post` (`zoo.interp.hooks`), at every position of its own
train and validation windows: what a sparse autoencoder is trained on
(the `sae` task reads `vector`). Building it trains the target first if it
is not cached (minutes on two cores), then runs one forward per chunk of
windows.

Features:
  vector: [192] float32, the residual stream after block 1 of 4;
  token: int32, the token id at that position;
  position: int32, its position in the window (0 sees only itself).

Splits: train (the first TRAIN_WINDOWS training windows, in storage
order) and validation (the first VALIDATION_WINDOWS held-out windows).
"""

import sys

import numpy as np
import tensorflow_datasets as tfds
import tqdm

from train.data.builders import common

POINT = "block_1/resid_post"
TARGET = "text"
WIDTH = 192
TRAIN_WINDOWS = 256
VALIDATION_WINDOWS = 32
_CHUNK = 16


class TextTargetActivations(tfds.core.GeneratorBasedBuilder):
  """The text target's residual stream after block 1, one row per token."""

  VERSION = tfds.core.Version("1.0.0")
  RELEASE_NOTES = {"1.0.0": "Initial release."}
  BUILDER_CONFIGS = [common.python_config()]

  def _info(self) -> tfds.core.DatasetInfo:
    return tfds.core.DatasetInfo(
        builder=self,
        description=__doc__,
        features=tfds.features.FeaturesDict({
            "vector": tfds.features.Tensor(shape=(WIDTH,), dtype=np.float32),
            "token": tfds.features.Scalar(dtype=np.int32),
            "position": tfds.features.Scalar(dtype=np.int32),
        }),
        metadata=tfds.core.MetadataDict(
            python=common.python_version(), target=TARGET, point=POINT),
    )

  def _split_generators(self, dl_manager):
    del dl_manager  # Everything comes from the cached target.
    from train.store import lm as lm_store  # noqa: PLC0415  (trains once)

    target = lm_store.load_target(TARGET)
    if target.lm.module.config.embed_dim != WIDTH:
      raise ValueError(f"text_target_activations: the {TARGET!r} target is "
                       f"{target.lm.module.config.embed_dim} wide, the "
                       f"dataset stores {WIDTH}")
    windows = {
        "train": lm_store.split_windows(target, "train")[:TRAIN_WINDOWS],
        "validation": lm_store.split_windows(
            target, "validation")[:VALIDATION_WINDOWS],
    }
    return {split: self._generate_examples(split, target, rows[:, :-1])
            for split, rows in windows.items()}

  def _generate_examples(self, split, target, windows: np.ndarray):
    from zoo.interp import hooks  # noqa: PLC0415

    states = hooks.capture_in_chunks(
        target.lm.module, {"params": target.lm.params}, windows, POINT,
        _CHUNK, method="states")  # [N, T, WIDTH]
    for i, row in enumerate(tqdm.tqdm(windows, desc=f"activations ({split})",
                                      unit="window", file=sys.stderr)):
      for t, token in enumerate(row):
        yield f"{i}:{t}", {"vector": states[i, t].astype(np.float32),
                           "token": int(token), "position": t}
