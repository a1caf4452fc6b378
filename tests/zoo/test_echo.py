"""Tests of `zoo.retrieval.echo`: the `<bos> x <eos> <bos> x` layout."""

import numpy as np
import pytest
from jax import numpy as jnp

from zoo.retrieval import echo

BOS, EOS, PAD = 1, 2, 0


def _brute(tokens, mask, length):
  """Python lists: the real tokens in order, each copy cut to half."""
  half = (length - 3) // 2
  rows, masks, seconds = [], [], []
  for row, keep in zip(tokens, mask):
    x = [int(t) for t, k in zip(row, keep) if k][:half]
    out = [BOS, *x, EOS, BOS, *x]
    second = [False] * (len(x) + 3) + [True] * len(x)
    pad = length - len(out)
    rows.append(out + [PAD] * pad)
    masks.append([True] * len(out) + [False] * pad)
    seconds.append(second + [False] * pad)
  return np.array(rows), np.array(masks), np.array(seconds)


@pytest.mark.parametrize("length", [None, 3, 4, 9, 12])
def test_matches_brute_force_on_ragged_masks(length):
  rng = np.random.default_rng(0)
  tokens = rng.integers(4, 50, (6, 7)).astype(np.int32)
  mask = rng.random((6, 7)) < 0.6  # holes, not left-aligned
  mask[0] = False  # an empty text
  mask[1] = True
  out = echo.echo_tokens(jnp.asarray(tokens), jnp.asarray(mask), BOS, EOS,
                         length=length)
  want = _brute(tokens, mask, length or 2 * 7 + 3)
  for got, expected in zip(out, want):
    np.testing.assert_array_equal(np.asarray(got), expected)
  assert not np.asarray(out[2])[0].any()  # empty text: nothing to pool


def test_second_copy_repeats_the_first():
  tokens = jnp.arange(10, 16, dtype=jnp.int32)[None]
  ids, mask, second = echo.echo_tokens(tokens, jnp.ones((1, 6), bool), BOS,
                                       EOS, length=11)
  ids = np.asarray(ids)[0]
  # (11 - 3) // 2 = 4 tokens per copy.
  np.testing.assert_array_equal(ids, [1, 10, 11, 12, 13, 2, 1, 10, 11, 12,
                                      13])
  np.testing.assert_array_equal(ids[np.asarray(second)[0]], ids[1:5])
  assert np.asarray(mask).all()


@pytest.mark.parametrize("kwargs, match", [
    (dict(tokens=jnp.zeros((2, 3), jnp.float32)), "tokens"),
    (dict(mask=jnp.ones((2, 4), bool)), "mask"),
    (dict(length=2), "length"),
    (dict(bos=1.0), "bos"),
])
def test_bad_input_names_the_argument(kwargs, match):
  args = dict(tokens=jnp.zeros((2, 3), jnp.int32),
              mask=jnp.ones((2, 3), bool), bos=BOS, eos=EOS)
  args.update(kwargs)
  with pytest.raises(ValueError, match=match):
    echo.echo_tokens(**args)
