"""Trained retrieval heads on the stored code-search token states.

The claim checks rank a split's queries against that split's own functions
(query i's only relevant document is function i) from the stored
`stdlib_code_search_minilm` states, e.g. 521 validation queries against the
521 validation functions.
"""

import numpy as np

from train.data import sources
from train.store.heads import TrainedHead
from train.tasks import colbert_contrastive
from zoo.retrieval import rankers

DATASET = "stdlib_code_search_minilm"


def rank_features(head: TrainedHead, features: dict[str, np.ndarray],
                  depth: int = 100) -> np.ndarray:
  """Ranks a split's queries against its own code: `prepare`d features."""
  q, q_mask = head.encode(features["query"], features["query_mask"], "query")
  d, d_mask = head.encode(features["code"], features["code_mask"], "doc")
  return rankers.rank_tokens(q, q_mask, d, d_mask, depth)


def feature_split(split: str, data_dir: str | None = None
                  ) -> tuple[list[str], dict[str, np.ndarray]]:
  """(keys [N], prepared features) of one split of the stored states."""
  source = sources.data_source(DATASET, split, data_dir)
  records = source.__getitems__(range(len(source)))
  features = colbert_contrastive.prepare(
      {f: np.stack([r[f] for r in records])
       for f in ("query_states", "query_length", "code_states",
                 "code_length")})
  return [r["key"].decode() for r in records], features
