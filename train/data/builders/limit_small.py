"""`limit_small`: the LIMIT-small retrieval benchmark (CC BY 4.0).

Vendored unmodified in train/data/limit_small/ (see its LICENSE.md). Splits:
`corpus` (46 documents) and `queries` (1000 queries, each with the ids of its
two relevant documents in `relevant`; empty for documents).
"""

import json
import pathlib

import tensorflow_datasets as tfds

FILES = pathlib.Path(__file__).resolve().parent.parent / "limit_small"


def _jsonl(name: str) -> list[dict]:
  with (FILES / name).open() as f:
    return [json.loads(line) for line in f if line.strip()]


class LimitSmall(tfds.core.GeneratorBasedBuilder):
  """LIMIT-small: 46 people, 1000 "Who likes X?" queries."""

  VERSION = tfds.core.Version("1.0.0")
  RELEASE_NOTES = {"1.0.0": "Initial release."}

  def _info(self) -> tfds.core.DatasetInfo:
    return tfds.core.DatasetInfo(
        builder=self,
        description=__doc__,
        features=tfds.features.FeaturesDict({
            "id": tfds.features.Text(),
            "text": tfds.features.Text(),
            "relevant": tfds.features.Sequence(tfds.features.Text()),
        }),
        homepage="https://github.com/google-deepmind/limit",
        citation=(
            "Weller, O., Boratko, M., Naim, I. and Lee, J. (2025). On the "
            "Theoretical Limitations of Embedding-Based Retrieval. "
            "arXiv:2508.21038"
        ),
    )

  def _split_generators(self, dl_manager):
    del dl_manager  # Vendored with the package.
    relevant: dict[str, list[str]] = {}
    for row in _jsonl("qrels.jsonl"):
      if row["score"] > 0:
        relevant.setdefault(row["query-id"], []).append(row["corpus-id"])
    corpus = [(d["_id"], d["text"], []) for d in _jsonl("corpus.jsonl")]
    queries = [(q["_id"], q["text"], sorted(relevant.get(q["_id"], [])))
               for q in _jsonl("queries.jsonl")]
    return {"corpus": self._generate_examples(corpus),
            "queries": self._generate_examples(queries)}

  def _generate_examples(self, rows):
    for i, (key, text, rel) in enumerate(rows):
      yield i, {"id": key, "text": text, "relevant": rel}
