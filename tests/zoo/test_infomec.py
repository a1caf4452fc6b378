"""InfoMEC on latents whose relation to the sources is known exactly.

Sources are a full factorial grid of random factor sizes in random row
order, so they are exactly independent and the ideal scores are known.
"""

import numpy as np
import pytest

from zoo.vq import infomec as infomec_lib


def _sources(seed: int, num: int = 4) -> np.ndarray:
  """[prod(sizes), num] every combination of `num` random-size factors,
  rows shuffled, values relabelled at random (names are arbitrary)."""
  rng = np.random.default_rng(seed)
  sizes = rng.integers(2, 6, size=num)
  grid = np.stack([g.reshape(-1) for g in np.meshgrid(
      *[np.arange(n) for n in sizes], indexing="ij")], axis=1)
  grid = grid[rng.permutation(len(grid))]
  return np.stack([rng.permutation(n)[grid[:, i]] * 3 + 1
                   for i, n in enumerate(sizes)], axis=1)


@pytest.mark.parametrize("seed", range(2))
def test_latents_equal_to_sources_score_one(seed):
  sources = _sources(seed)
  scores = infomec_lib.infomec(sources, sources, discrete=True)
  assert min(scores.infom, scores.infoc, scores.infoe) >= 0.99, scores
  np.testing.assert_allclose(scores.nmi, np.eye(4), atol=1e-9)


def test_duplicated_sources_stay_modular_but_not_compact():
  sources = _sources(2)
  scores = infomec_lib.infomec(sources, np.concatenate([sources, sources], 1),
                               discrete=True)
  np.testing.assert_allclose(scores.infom, 1.0, atol=1e-9)
  assert scores.infoc <= 0.6, scores


def test_two_sources_per_latent_are_not_modular():
  sources = _sources(3)
  pairs = np.stack([sources[:, 0] * 100 + sources[:, 1],
                    sources[:, 2] * 100 + sources[:, 3]], axis=1)
  scores = infomec_lib.infomec(sources, pairs, discrete=True)
  assert scores.infom < 0.5, scores
  assert scores.infoe >= 0.99  # everything is still predictable


@pytest.mark.parametrize("discrete", [True, False])
def test_scores_do_not_depend_on_the_order_of_latents(discrete):
  rng = np.random.default_rng(4)
  sources = _sources(4)
  latents = sources @ rng.normal(size=(4, 6)) + rng.normal(
      size=(len(sources), 6)) * (0 if discrete else 0.3)
  if discrete:  # about 7 levels each
    latents = np.round(1.5 * (latents - latents.mean(0)) / latents.std(0))
  perm = rng.permutation(6)
  a = infomec_lib.infomec(sources, latents, discrete)
  b = infomec_lib.infomec(sources, latents[:, perm], discrete)
  np.testing.assert_allclose(b.nmi, a.nmi[:, perm], atol=1e-12)
  np.testing.assert_allclose([b.infom, b.infoc], [a.infom, a.infoc],
                             atol=1e-12)
  np.testing.assert_allclose(b.infoe, a.infoe, atol=1e-3)


def test_continuous_copies_of_the_sources_are_modular():
  rng = np.random.default_rng(5)
  sources = _sources(5)
  latents = sources + rng.normal(size=sources.shape) * 0.05
  scores = infomec_lib.infomec(sources, latents, discrete=False)
  assert scores.infom >= 0.9 and scores.infoc >= 0.9, scores


@pytest.mark.parametrize("sources,latents,message", [
    (np.zeros((10, 2)), np.zeros((9, 2)), "differ in length"),
    (np.stack([np.arange(10), np.zeros(10)], 1), np.arange(10)[:, None],
     r"source\(s\) \[1\] are constant"),
    (np.arange(20).reshape(10, 2), np.zeros((10, 3)), "no active latent"),
    (np.arange(10)[:, None], np.arange(10)[:, None], "at least 2 sources"),
])
def test_bad_input_is_one_clear_error(sources, latents, message):
  with pytest.raises(ValueError, match=message):
    infomec_lib.infomec(sources, latents, discrete=True)
