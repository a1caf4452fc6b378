"""`bad_token_activations`: the sae_detox subject's residual stream.

The subject LM of `train/configs/sae_detox.py` (its default `stage=lm`:
2 blocks of width 64 on `bad_token_lm`) is trained once into the user
cache (`train.store.run_once`, about three minutes on two cores) and read
at `zoo.interp.sae_detox.POINT` ("block_0/resid_post") at every position
after BOS of the first TRAIN_SEQUENCES train and TEST_SEQUENCES test
sequences: what `sae_detox.py:stage=sae` trains its SAEs on through the
shared loop (the claim check collects the same activations in memory).

Features:
  vector: [64] float32, the residual stream after block 0;
  token: int32, the token id at that position.
"""

import sys

import numpy as np
import tensorflow_datasets as tfds

from train.data.builders import bad_token_lm, common

WIDTH = 64
TRAIN_SEQUENCES = 2000
TEST_SEQUENCES = 500


def subject_variables():
  """(model, variables) of the cached subject LM, trained on first use."""
  import jax  # noqa: PLC0415

  from train import config as config_lib  # noqa: PLC0415
  from train import loop, store  # noqa: PLC0415
  from zoo import sharding  # noqa: PLC0415

  workdir = store.run_once(lambda: config_lib.load_config("sae_detox.py"),
                           store.cache_dir("sae_detox") / "subject",
                           "the sae_detox subject LM")
  run, state, _ = loop.load(workdir, mesh=sharding.MeshConfig(data=1),
                            devices=jax.devices()[:1])
  return run.model, run.variables(state)


class BadTokenActivations(tfds.core.GeneratorBasedBuilder):
  """The sae_detox subject's residual after block 0, one row per token."""

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
        }),
        metadata=tfds.core.MetadataDict(python=common.python_version()),
    )

  def _split_generators(self, dl_manager):
    del dl_manager  # Everything comes from the cached subject.
    from zoo.interp import sae_detox  # noqa: PLC0415

    model, variables = subject_variables()
    data = bad_token_lm.generate()
    sizes = {"train": TRAIN_SEQUENCES, "test": TEST_SEQUENCES}
    out = {}
    for split, n in sizes.items():
      tokens = data[split]["tokens"][:n, :-1]
      x = sae_detox.activations(model, variables, tokens)
      print(f"bad_token_activations: {split}, {n} sequences",
            file=sys.stderr)
      out[split] = self._generate_examples(x[:, 1:], tokens[:, 1:])
    return out

  def _generate_examples(self, x: np.ndarray, tokens: np.ndarray):
    for i, (rows, ids) in enumerate(zip(x, tokens)):
      for t, (vector, token) in enumerate(zip(rows, ids)):
        yield f"{i}:{t}", {"vector": vector.astype(np.float32),
                           "token": int(token)}
