"""CRISP on frozen MiniLM states: stdlib code search, clustered training.

    python -m train --config train/configs/crisp.py --workdir runs/crisp
    python -m train --config crisp.py:ratio=2        # relative mode R2

The colbert_proj.py setting (linear 384 -> 128 head, in-batch contrastive
loss through MaxSim, batch 32, AdamW 1e-3, temperature 0.02, 300 steps),
with each text's token vectors replaced by k-means centroids in training
and at evaluation: C4x8 by default (4 query, 8 document clusters; code has
a median of about 64 tokens, so about 8x fewer document vectors).

Args: query_clusters=N, doc_clusters=N, ratio=N, seed=N, smoke.
"""

import dataclasses

from train.config import parse_arg
from train.configs import colbert_proj
from zoo.errors import ConfigError
from zoo.retrieval.crisp import CRISPConfig


def get_config(arg: str = ""):
  args = parse_arg(arg, smoke=False, query_clusters=4, doc_clusters=8,
                   ratio=0, seed=0)
  base = colbert_proj.get_config(
      ",".join(["smoke"] * args.smoke + [f"seed={args.seed}"]))
  try:
    model = CRISPConfig(colbert=base.model,
                        query_clusters=args.query_clusters,
                        doc_clusters=args.doc_clusters, ratio=args.ratio)
  except ValueError as e:
    raise ConfigError(f"crisp.py: {e}") from None
  return dataclasses.replace(base, system="crisp", model=model)
