"""Unmasking rules against brute-force numpy, on random block statistics."""

import jax
import numpy as np
import pytest
from jax import numpy as jnp

from ops.decoding.unmask import KINDS, UnmaskRule, select
from ops.vocab import vocab_reduce

B, N, V = 64, 8, 6


def _block(seed=0, scale=3.0):
  """Random stats [B, N] (peaked enough for thresholds to bite), masked."""
  rng = np.random.default_rng(seed)
  stats = vocab_reduce(jnp.asarray(rng.normal(size=(B, N, V)) * scale,
                                   jnp.float32))
  masked = rng.random((B, N)) < 0.6
  masked[0] = False  # a finished row
  masked[1] = [True] + [False] * (N - 1)
  return stats, masked, rng


def _most_confident(conf, masked):
  """Numpy: per row, the masked position of highest confidence."""
  out = np.zeros_like(masked)
  for b in range(len(masked)):
    if masked[b].any():
      out[b, np.argmax(np.where(masked[b], conf[b], -np.inf))] = True
  return out


@pytest.mark.parametrize("kind", KINDS)
def test_every_rule_picks_masked_positions_and_at_least_one(kind):
  stats, masked, rng = _block(1)
  accept = jnp.asarray(rng.random((B, N)) < 0.3)
  transfer = np.asarray(select(UnmaskRule(kind, k=2), stats, masked,
                               key=jax.random.key(0),
                               accept=accept))
  assert not (transfer & ~masked).any()
  np.testing.assert_array_equal(transfer.any(-1), masked.any(-1))


@pytest.mark.parametrize("kind,score", [
    ("confidence", lambda s: s.confidence),
    ("margin", lambda s: s.margin),
    ("entropy", lambda s: -s.entropy)])
@pytest.mark.parametrize("k", [1, 3, N])
def test_top_k_rules_take_the_k_best_masked(kind, score, k):
  stats, masked, _ = _block(2)
  transfer = np.asarray(select(UnmaskRule(kind, k=k), stats, masked))
  values = np.asarray(score(stats))
  for b in range(B):
    idx = np.flatnonzero(masked[b])
    best = idx[np.argsort(-values[b, idx], kind="stable")[:k]]
    np.testing.assert_array_equal(np.flatnonzero(transfer[b]), np.sort(best))


def test_threshold_and_factor_match_brute_force():
  stats, masked, _ = _block(3)
  conf = np.asarray(stats.confidence)
  top1 = _most_confident(conf, masked)
  got = np.asarray(select(UnmaskRule("threshold", threshold=0.7), stats,
                          masked))
  np.testing.assert_array_equal(got, masked & (conf >= 0.7) | top1)
  factor = 1.5
  got = np.asarray(select(UnmaskRule("factor", factor=factor), stats,
                          masked))
  for b in range(B):
    idx = np.flatnonzero(masked[b])
    order = idx[np.argsort(-conf[b, idx], kind="stable")]
    count = 0
    while (count < len(order)
           and conf[b, order[count]] >= 1 - factor / (count + 2)):
      count += 1
    np.testing.assert_array_equal(np.flatnonzero(got[b]),
                                  np.sort(order[:max(count, 1)]))


def test_localleap_matches_brute_force_and_reduces_to_threshold():
  stats, masked, _ = _block(4)
  conf = np.asarray(stats.confidence)
  tau, relaxed, radius = 0.8, 0.5, 2
  rule = UnmaskRule("localleap", threshold=tau, relaxed_threshold=relaxed,
                    radius=radius)
  got = np.asarray(select(rule, stats, masked))
  anchor = masked & (conf >= tau)
  near = np.zeros_like(anchor)
  for i in range(N):
    near[:, i] = anchor[:, max(0, i - radius):i + radius + 1].any(-1)
  bar = np.where(near, relaxed, tau)
  want = masked & (conf >= bar) | _most_confident(conf, masked)
  np.testing.assert_array_equal(got, want)
  assert (got.sum() > np.asarray(select(
      UnmaskRule("threshold", threshold=tau), stats, masked)).sum())
  # No relaxation: exactly the threshold rule; nothing passes: top-1.
  same = UnmaskRule("localleap", threshold=tau, relaxed_threshold=tau)
  np.testing.assert_array_equal(
      np.asarray(select(same, stats, masked)),
      np.asarray(select(UnmaskRule("threshold", threshold=tau), stats,
                        masked)))
  never = UnmaskRule("localleap", threshold=1.5, relaxed_threshold=1.2)
  np.testing.assert_array_equal(
      np.asarray(select(never, stats, masked)),
      np.asarray(select(UnmaskRule("confidence", k=1), stats, masked)))


def test_accept_rules_add_the_accepted_to_the_most_confident():
  stats, masked, rng = _block(5)
  conf = np.asarray(stats.confidence)
  accept = rng.random((B, N)) < 0.4
  for kind in ("filter", "reference"):
    got = np.asarray(select(UnmaskRule(kind), stats, masked,
                            accept=jnp.asarray(accept)))
    np.testing.assert_array_equal(
        got, masked & accept | _most_confident(conf, masked))


def test_bad_arguments_are_named():
  stats, masked, _ = _block()
  with pytest.raises(ValueError, match="kind must be one of"):
    UnmaskRule("nope")
  with pytest.raises(ValueError, match="k must be >= 1"):
    UnmaskRule(k=0)
  with pytest.raises(ValueError, match="relaxed_threshold"):
    UnmaskRule("localleap", threshold=0.5, relaxed_threshold=0.9)
  with pytest.raises(ValueError, match="needs accept"):
    select(UnmaskRule("filter"), stats, masked)
  with pytest.raises(ValueError, match="needs a key"):
    select(UnmaskRule("random"), stats, masked)
  with pytest.raises(ValueError, match="masked must be bool"):
    select(UnmaskRule(), stats, masked[:, :3])
