"""The `digit_strips` dataset: placement, labels, splits and determinism."""

import numpy as np
import pytest
from sklearn import datasets as sk_datasets

from train.data import builders
from train.data.builders import digit_strips, digits
from zoo.lm import special_tokens
from zoo.vision.recognition import CHAR_BASE

SIZE = digit_strips.DIGIT_SIZE


@pytest.fixture(scope="module")
def source():
  loaded = sk_datasets.load_digits()
  return loaded.images.astype(np.uint8), loaded.target.astype(np.int64)


@pytest.mark.parametrize("seed", range(4))
def test_compose_places_every_glyph_left_to_right_without_overlap(seed):
  rng = np.random.default_rng(seed)
  for k in range(1, digit_strips.MAX_DIGITS + 1):
    # Glyphs with no empty pixel, so each one's box is visible exactly.
    glyphs = rng.integers(1, 17, size=(k, SIZE, SIZE)).astype(np.uint8)
    strip, lefts, tops = digit_strips.compose(rng, glyphs)
    assert strip.shape == (digit_strips.HEIGHT, digit_strips.WIDTH)
    gaps = np.diff(lefts) - SIZE
    assert ((gaps >= 0) & (gaps <= digit_strips.MAX_GAP)).all()
    assert 0 <= lefts[0] <= digit_strips.MAX_START
    assert lefts[-1] + SIZE <= digit_strips.WIDTH
    assert ((tops >= 0) & (tops + SIZE <= digit_strips.HEIGHT)).all()
    expected = np.zeros_like(strip)
    for glyph, left, top in zip(glyphs, lefts, tops):
      expected[top:top + SIZE, left:left + SIZE] = glyph
    np.testing.assert_array_equal(strip, expected)
    assert (strip > 0).sum() == k * SIZE * SIZE


def test_compose_rejects_too_many_glyphs():
  glyphs = np.ones((digit_strips.MAX_DIGITS + 1, SIZE, SIZE), np.uint8)
  with pytest.raises(ValueError, match="glyphs"):
    digit_strips.compose(np.random.default_rng(0), glyphs)


def test_strip_labels_spell_the_digits_used(source):
  images, labels = source
  pools = digit_strips.split_pools(labels)
  examples = list(digit_strips.strips(images, labels, pools["test"], 300, 5))
  lengths = [e["length"] for e in examples]
  assert set(lengths) == set(range(1, digit_strips.MAX_DIGITS + 1))
  for e in examples:
    k = e["length"]
    used = e["indices"][:k]
    assert (e["indices"][k:] == -1).all()
    assert set(used.tolist()) <= set(pools["test"].tolist())
    np.testing.assert_array_equal(e["label"][:k], CHAR_BASE + labels[used])
    assert e["label"][k] == special_tokens.EOS
    assert (e["label"][k + 1:] == special_tokens.PAD).all()
    # No overlap: the strip holds exactly the ink of the digits used.
    assert int(e["image"].sum()) == int(images[used].sum())
    assert e["image"].dtype == np.uint8


def test_strips_are_deterministic_and_depend_on_the_seed(source):
  images, labels = source
  pool = digit_strips.split_pools(labels)["train"]
  draw = lambda seed: list(digit_strips.strips(images, labels, pool, 20, seed))
  first, again, other = draw(0), draw(0), draw(1)
  for a, b in zip(first, again):
    for key in a:
      np.testing.assert_array_equal(a[key], b[key])
  assert any(not np.array_equal(a["image"], b["image"])
             for a, b in zip(first, other))


def test_splits_draw_from_disjoint_digit_images(source):
  _, labels = source
  pools = digit_strips.split_pools(labels)
  assert set(pools["test"].tolist()) == set(digits.test_indices(labels))
  assert not set(pools["train"].tolist()) & set(pools["test"].tolist())
  assert len(pools["train"]) + len(pools["test"]) == len(labels)


def test_registered_builder():
  assert builders.builder_class("digit_strips") is digit_strips.DigitStrips
