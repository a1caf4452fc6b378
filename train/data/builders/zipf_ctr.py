"""`zipf_ctr`: synthetic click logs with Zipfian categorical fields.

The recipe (fixed; `RECIPE` is stored in the dataset's metadata with the
seed and the oracle AUC):

* 8 fields of 50,000 ids each. In every row and field the popularity rank
  k is drawn with P(k) proportional to (k + 1)^-1.2 (Zipf, exponent 1.2);
  the id is perm_f[k] for a random permutation per field, so ids carry no
  order (as raw ids; numbered by rank, QR's quotient rows would join each
  field's most popular ids).
* Every id has a latent scalar w[f, i] ~ N(0, 0.5^2); the ids of fields 0
  and 1 also have latent vectors u[f, i] ~ N(0, 0.5^2 I_4), giving one
  pairwise term.
* logit = -1 + sum_f w[f, id_f] + <u[0, id_0], u[1, id_1]>; the label is a
  Bernoulli draw of sigmoid(logit).
* 200,000 train and 50,000 test rows, iid. The oracle AUC is the AUC of the
  true logit on the test rows: no model of the ids can beat it.

Everything comes from `numpy.random.default_rng(SEED)`; `generate()` gives
the same arrays without TFDS (the claim check reads them that way).
"""

import dataclasses
import json

import numpy as np
import tensorflow_datasets as tfds

SEED = 0


@dataclasses.dataclass(frozen=True)
class Recipe:
  num_fields: int = 8
  ids_per_field: int = 50_000
  zipf_exponent: float = 1.2
  latent_std: float = 0.5
  pair_fields: tuple[int, int] = (0, 1)
  pair_dim: int = 4
  bias: float = -1.0
  num_train: int = 200_000
  num_test: int = 50_000


RECIPE = Recipe()


@dataclasses.dataclass(frozen=True)
class ClickLogs:
  """ids [rows, fields] int32, label [rows] int32, logit [rows] float32 (the
  true logit, for the oracle) per split."""

  train_ids: np.ndarray
  train_label: np.ndarray
  test_ids: np.ndarray
  test_label: np.ndarray
  test_logit: np.ndarray


def auc(label: np.ndarray, score: np.ndarray) -> float:
  """Area under the ROC curve (Mann-Whitney U, ties counted half)."""
  label = np.asarray(label).astype(bool)
  score = np.asarray(score, np.float64)
  order = np.argsort(score, kind="stable")
  ranks = np.empty(len(score))
  sorted_scores = score[order]
  # Average ranks of tied scores.
  _, first, counts = np.unique(sorted_scores, return_index=True,
                               return_counts=True)
  mean_rank = first + (counts + 1) / 2.0
  ranks[order] = np.repeat(mean_rank, counts)
  pos, neg = label.sum(), (~label).sum()
  if pos == 0 or neg == 0:
    raise ValueError("auc: needs both positive and negative labels")
  return float((ranks[label].sum() - pos * (pos + 1) / 2) / (pos * neg))


def generate(recipe: Recipe = RECIPE, seed: int = SEED) -> ClickLogs:
  """The click logs of `recipe` and `seed` (about a second)."""
  rng = np.random.default_rng(seed)
  f, v = recipe.num_fields, recipe.ids_per_field
  weights = rng.normal(0.0, recipe.latent_std, size=(f, v))
  pair = rng.normal(0.0, recipe.latent_std, size=(2, v, recipe.pair_dim))
  p = np.arange(1, v + 1, dtype=np.float64) ** -recipe.zipf_exponent
  cdf = np.cumsum(p / p.sum())
  rows = recipe.num_train + recipe.num_test
  ids = np.searchsorted(cdf, rng.random((rows, f)), side="right")
  ids = np.minimum(ids, v - 1)
  perms = np.stack([rng.permutation(v) for _ in range(f)])
  ids = perms[np.arange(f), ids].astype(np.int32)
  a, b = recipe.pair_fields
  logit = (recipe.bias + weights[np.arange(f), ids].sum(-1)
           + np.sum(pair[0, ids[:, a]] * pair[1, ids[:, b]], axis=-1))
  label = (rng.random(rows) < 1.0 / (1.0 + np.exp(-logit))).astype(np.int32)
  n = recipe.num_train
  return ClickLogs(ids[:n], label[:n], ids[n:], label[n:],
                   logit[n:].astype(np.float32))


class ZipfCtr(tfds.core.GeneratorBasedBuilder):
  """Synthetic CTR logs: 8 Zipfian id fields, a logistic label."""

  VERSION = tfds.core.Version("1.0.0")
  RELEASE_NOTES = {"1.0.0": "Initial release."}

  def _info(self) -> tfds.core.DatasetInfo:
    return tfds.core.DatasetInfo(
        builder=self,
        description=__doc__,
        features=tfds.features.FeaturesDict({
            "ids": tfds.features.Tensor(shape=(RECIPE.num_fields,),
                                        dtype=np.int32),
            "label": tfds.features.Scalar(dtype=np.int32),
        }),
        supervised_keys=("ids", "label"),
        metadata=tfds.core.MetadataDict(),
    )

  def _split_generators(self, dl_manager):
    del dl_manager  # Generated from the recipe and the seed.
    logs = generate()
    self.info.metadata.update(
        recipe=json.dumps(dataclasses.asdict(RECIPE)), seed=SEED,
        oracle_test_auc=auc(logs.test_label, logs.test_logit),
        train_ctr=float(logs.train_label.mean()))
    return {"train": self._generate_examples(logs.train_ids, logs.train_label),
            "test": self._generate_examples(logs.test_ids, logs.test_label)}

  def _generate_examples(self, ids, labels):
    for i in range(len(labels)):
      yield i, {"ids": ids[i], "label": labels[i]}
