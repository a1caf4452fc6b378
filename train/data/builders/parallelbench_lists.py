"""`parallelbench_lists`: ParallelBench's list tasks as token canvases.

Each record is one task instance (see `eval/parallelbench/list_tasks.py`): the
ten tasks in turn, 4-8 names drawn uniformly, the answer drawn uniformly
from the correct ones. `tokens` is the canvas `[prompt (16) | answer + EOS
(32)]`, `task` the index into `list_tasks.TASKS`, `num_items` the input length.

The records come from one seeded generator, so every build is identical.
Split by `sha1(prompt tokens) % 20`: 0 is test (about 5%), the rest train;
an instance's prompt is never in both splits.
"""

import numpy as np
import tensorflow_datasets as tfds

from train.data import list_tasks
from train.data.builders import common

NUM_EXAMPLES = 60_000
SEED = 2510


def generate(num: int = NUM_EXAMPLES, seed: int = SEED):
  """Yields (key, split, record) for `num` seeded instances."""
  rng = np.random.default_rng(seed)
  for i in range(num):
    task = list_tasks.TASKS[i % len(list_tasks.TASKS)]
    num_items = int(rng.integers(list_tasks.MIN_ITEMS,
                                 list_tasks.MAX_ITEMS + 1))
    example = list_tasks.sample_example(rng, task, num_items)
    tokens = list_tasks.sample_sequence(rng, example)
    prompt = tokens[:list_tasks.PROMPT_LEN].tobytes().hex()
    split = "test" if common.stable_hash(prompt) % 20 == 0 else "train"
    yield i, split, {"tokens": tokens,
                     "task": list_tasks.TASKS.index(task),
                     "num_items": num_items}


class ParallelbenchLists(tfds.core.GeneratorBasedBuilder):
  """Seeded list-manipulation tasks for masked-diffusion LMs."""

  VERSION = tfds.core.Version("1.0.0")
  RELEASE_NOTES = {"1.0.0": "Initial release."}

  def _info(self) -> tfds.core.DatasetInfo:
    length = list_tasks.PROMPT_LEN + list_tasks.GEN_LEN
    return tfds.core.DatasetInfo(
        builder=self,
        description=__doc__,
        features=tfds.features.FeaturesDict({
            "tokens": tfds.features.Tensor(shape=(length,), dtype=np.int32),
            "task": tfds.features.ClassLabel(names=list(list_tasks.TASKS)),
            "num_items": tfds.features.Scalar(dtype=np.int32),
        }),
        homepage="https://arxiv.org/abs/2510.04767",
    )

  def _split_generators(self, dl_manager):
    del dl_manager  # Generated, nothing to download.
    records = list(generate())  # both splits come from one seeded draw
    return {split: self._generate_examples(records, split)
            for split in ("train", "test")}

  def _generate_examples(self, records, split: str):
    for key, record_split, record in records:
      if record_split == split:
        yield key, record
