"""The `zipf_ctr` recipe: reproducible, Zipfian, labels from the stated
logit; its AUC equals scikit-learn's."""

import dataclasses

import numpy as np
from sklearn.metrics import roc_auc_score

from train.data.builders import zipf_ctr

SMALL = dataclasses.replace(zipf_ctr.RECIPE, ids_per_field=500,
                            num_train=20_000, num_test=5_000)


def test_auc_equals_sklearn_with_ties():
  rng = np.random.default_rng(0)
  label = rng.integers(0, 2, 3_000)
  score = np.round(rng.normal(size=3_000) + label, 1)  # many ties
  np.testing.assert_allclose(zipf_ctr.auc(label, score),
                             roc_auc_score(label, score), rtol=0, atol=1e-12)


def test_recipe_is_reproducible_and_zipfian():
  a, b = zipf_ctr.generate(SMALL, seed=3), zipf_ctr.generate(SMALL, seed=3)
  for field in dataclasses.fields(a):
    np.testing.assert_array_equal(getattr(a, field.name),
                                  getattr(b, field.name))
  assert a.train_ids.shape == (20_000, 8) and a.test_ids.shape == (5_000, 8)
  assert a.train_ids.min() >= 0 and a.train_ids.max() < 500
  # Rank frequencies fall as (k + 1)^-1.2: rank 0 over rank 9 is 10^1.2.
  counts = np.sort(np.bincount(a.train_ids[:, 0], minlength=500))[::-1]
  assert 10 < counts[0] / counts[9] < 22
  # The true logit predicts the labels; a different seed gives other logs.
  assert zipf_ctr.auc(a.test_label, a.test_logit) > 0.7
  c = zipf_ctr.generate(SMALL, seed=4)
  assert not np.array_equal(a.train_ids, c.train_ids)
