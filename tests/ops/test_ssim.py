"""ops.losses.ssim against a direct numpy computation (window sums at
every valid position), its identities (SSIM(x, x) = 1, symmetry, falls
with noise) and its input checks."""

import numpy as np
import pytest

from ops.losses import ssim


def _brute_ssim(x, y, window=11, sigma=1.5, max_value=1.0):
  """Mean SSIM of one [H, W] pair, float64, window by window."""
  taps = np.exp(-0.5 * ((np.arange(window) - (window - 1) / 2) / sigma)**2)
  w = np.outer(taps, taps) / taps.sum()**2
  c1, c2 = (0.01 * max_value)**2, (0.03 * max_value)**2
  values = []
  for i in range(x.shape[0] - window + 1):
    for j in range(x.shape[1] - window + 1):
      a, b = x[i:i + window, j:j + window], y[i:i + window, j:j + window]
      mx, my = (w * a).sum(), (w * b).sum()
      vx, vy = (w * (a - mx)**2).sum(), (w * (b - my)**2).sum()
      cov = (w * (a - mx) * (b - my)).sum()
      values.append((2 * mx * my + c1) * (2 * cov + c2)
                    / ((mx**2 + my**2 + c1) * (vx + vy + c2)))
  return np.mean(values)


@pytest.mark.parametrize("shape,window", [((2, 16, 14, 1), 11),
                                          ((1, 9, 12, 2), 5)])
def test_ssim_matches_the_windowed_formula(shape, window):
  rng = np.random.default_rng(shape[1])
  x = rng.uniform(size=shape)
  y = np.clip(x + rng.normal(0, 0.2, shape), 0, 1)
  got = np.asarray(ssim(x, y, window=window))
  want = [np.mean([_brute_ssim(x[b, ..., c], y[b, ..., c], window)
                   for c in range(shape[-1])]) for b in range(shape[0])]
  np.testing.assert_allclose(got, want, rtol=2e-4, atol=2e-5)


def test_ssim_identities():
  rng = np.random.default_rng(1)
  x = rng.uniform(size=(3, 20, 20, 1))
  np.testing.assert_allclose(ssim(x, x), 1.0, rtol=1e-5)
  small = np.clip(x + rng.normal(0, 0.05, x.shape), 0, 1)
  large = np.clip(x + rng.normal(0, 0.3, x.shape), 0, 1)
  np.testing.assert_allclose(ssim(x, small), ssim(small, x), rtol=1e-5)
  assert np.all(np.asarray(ssim(x, large)) < np.asarray(ssim(x, small)))


def test_ssim_refuses_bad_input():
  x = np.zeros((1, 8, 8, 1))
  with pytest.raises(ValueError, match="one shape"):
    ssim(x, np.zeros((1, 8, 9, 1)))
  with pytest.raises(ValueError, match=r"window 11 must be in \[1, "):
    ssim(x, x)
