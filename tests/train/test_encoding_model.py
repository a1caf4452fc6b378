"""The stimulus encoding model: PCA-16 whitened on train, class codes."""

import numpy as np

from train.data import encoding_model


def test_low_level_code_is_whitened_pca_of_the_train_split():
  data = encoding_model.load_digits()
  model = encoding_model.fit()
  train = data.images[data.splits["train"]]
  low = model.low_level(train).astype(np.float64)
  np.testing.assert_allclose(low.mean(0), 0, atol=1e-5)
  np.testing.assert_allclose(np.cov(low.T), np.eye(16), atol=1e-4)
  # The leading 16 axes: no other unit direction has more train variance
  # than the 16th (checked against the full eigen-decomposition).
  flat = train.reshape(len(train), -1).astype(np.float64)
  eigvals = np.linalg.eigvalsh(np.cov(flat.T))[::-1]
  axes = model.components / np.linalg.norm(model.components, axis=1,
                                           keepdims=True)
  np.testing.assert_allclose(np.var(flat @ axes.T, axis=0, ddof=1),
                             eigvals[:16], rtol=1e-6)


def test_class_code_is_fixed_per_class_and_codes_concatenate():
  data = encoding_model.load_digits()
  model = encoding_model.fit()
  codes = model.code(data.images[:50], data.labels[:50])
  assert codes.shape == (50, 32)
  for a in range(50):
    for b in range(50):
      same = data.labels[a] == data.labels[b]
      assert np.array_equal(codes[a, 16:], codes[b, 16:]) == same
  np.testing.assert_array_equal(codes[:, :16],
                                model.low_level(data.images[:50]))
  again = encoding_model.fit.__wrapped__()
  np.testing.assert_array_equal(again.class_codes, model.class_codes)
