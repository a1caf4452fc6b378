"""The zoo's datasets: TFDS builders (array_record) read without TensorFlow.

`data_source(name, split)` builds a dataset on first use under `data_dir()`
and returns a random-access source for grain; `NAMES` lists the datasets.
Importing this package does not import tensorflow_datasets.
"""

from train.data.builders import NAMES
from train.data.sources import (
    DataDirNotFoundError,
    data_dir,
    data_source,
    prepare,
)

__all__ = [
    "NAMES",
    "DataDirNotFoundError",
    "data_dir",
    "data_source",
    "prepare",
]
