"""The zoo's datasets: TFDS builders (array_record) read without TensorFlow.

`data_source(name, split)` builds a dataset on first use under `data_dir()`
and returns a random-access source for grain; `names()` lists the datasets
(those the registered systems read). Importing this package does not import
tensorflow_datasets.
"""

from train.data.builders import names
from train.data.sources import (
    DataDirNotFoundError,
    data_dir,
    data_source,
    prepare,
)

__all__ = [
    "DataDirNotFoundError",
    "data_dir",
    "data_source",
    "names",
    "prepare",
]
