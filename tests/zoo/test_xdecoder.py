"""xdecoder (X-Decoder): mask logits are the einsum, the matched loss does
not depend on query order, masked cross-attention ignores keys outside the
mask, classes follow the class-name list, text queries leave the generic
outputs alone, the text side is causal; the task's held-out split and
referring targets; bad input; the smoke config."""

import functools
import itertools

import jax
import numpy as np
import pytest
from jax import numpy as jnp

from tests.train import run_files
from train import config as config_lib
from train import loop
from train.data.builders import shape_scenes
from train.tasks import open_vocab_segmentation as ovs
from zoo.arch import xdecoder as xd
from zoo.errors import ConfigError
from zoo.vision import mask_sets, masked_decoder

CFG = xd.XDecoderConfig(decoder_layers=2)
NAMES = xd.tokenize(xd.CLASS_NAMES)


@pytest.fixture(scope="module")
def model_and_variables():
  rng = np.random.default_rng(0)
  image = rng.uniform(-0.5, 0.5, (2, 32, 32, 3)).astype(np.float32)
  model = xd.XDecoder(CFG)
  phrase = xd.tokenize(["the red circle", "the blue square"])
  variables = jax.jit(model.init)(jax.random.key(0), image, NAMES, phrase)
  return model, variables, image


@functools.cache
def _jitted(model, method):
  # One compiled function per (model, method): the tests share them.
  return jax.jit(lambda v, *a: model.apply(v, *a, method=method))


def _apply(model, variables, *args, method=None):
  return _jitted(model, method)(variables, *args)


def _text_states(module, ids):
  return module.text_encoder(ids)


def test_mask_logits_are_the_einsum_of_queries_and_pixels(
    model_and_variables):
  model, variables, image = model_and_variables
  out = _apply(model, variables, image, NAMES)
  stages = CFG.decoder_layers + 1
  assert out["masks"].shape == (stages, 2, CFG.num_latents, 16, 16)
  assert out["classes"].shape == (stages, 2, CFG.num_latents,
                                  len(xd.CLASS_NAMES) + 1)
  expected = np.einsum("sbqd,bhwd->sbqhw", out["mask_embeddings"],
                       out["pixels"])
  np.testing.assert_allclose(out["masks"], expected, rtol=1e-4, atol=1e-4)


def test_classes_permute_with_the_name_list(model_and_variables):
  model, variables, image = model_and_variables
  perm = np.random.default_rng(1).permutation(len(NAMES))
  out = _apply(model, variables, image, NAMES)
  shuffled = _apply(model, variables, image, NAMES[perm])
  np.testing.assert_allclose(shuffled["classes"][..., :-1],
                             out["classes"][..., :-1][..., perm], atol=1e-5)
  np.testing.assert_allclose(shuffled["classes"][..., -1],
                             out["classes"][..., -1], atol=1e-6)
  np.testing.assert_allclose(shuffled["masks"], out["masks"], atol=1e-5)
  # Fewer names: the same cosines for the names kept.
  three = _apply(model, variables, image, NAMES[[5, 0, 9]])
  np.testing.assert_allclose(three["classes"][..., :-1],
                             out["classes"][..., [5, 0, 9]], atol=1e-5)


def test_text_queries_leave_generic_outputs_unchanged(model_and_variables):
  model, variables, image = model_and_variables
  alone = _apply(model, variables, image, NAMES)
  for phrases in (["the red circle", "the blue square"],
                  ["red circle left of blue square", "a white triangle"]):
    with_text = _apply(model, variables, image, NAMES, xd.tokenize(phrases))
    for key in ("masks", "classes", "global"):
      np.testing.assert_allclose(with_text[key], alone[key], atol=2e-5,
                                 err_msg=key)
    assert with_text["text_masks"].shape[2] == xd.tokenize(phrases).shape[1]


def test_text_side_is_causal(model_and_variables):
  model, variables, image = model_and_variables
  base = xd.tokenize(["red circle left of blue square",
                      "green triangle above white circle"])
  changed = base.copy()  # tokens from position 3 on replaced
  changed[:, 3:] = np.random.default_rng(4).integers(
      2, len(xd.VOCAB), changed[:, 3:].shape)
  encode = lambda ids: _apply(model, variables, ids, method=_text_states)
  a, b = encode(base), encode(changed)
  np.testing.assert_allclose(a[:, :3], b[:, :3], atol=1e-5)
  assert not np.allclose(a[:, 3:], b[:, 3:], atol=1e-3)
  # The decoder's text queries too: query i sees text queries <= i only.
  ta = _apply(model, variables, image, NAMES, base)["text_masks"]
  tb = _apply(model, variables, image, NAMES, changed)["text_masks"]
  np.testing.assert_allclose(ta[:, :, :3], tb[:, :, :3], atol=1e-4)
  # Padding after the end token changes nothing (keys masked).
  names = xd.tokenize(xd.CLASS_NAMES)
  padded = np.pad(names, ((0, 0), (0, 3)))
  embed = lambda ids: _apply(model, variables, ids,
                             method="text_embeddings")
  np.testing.assert_allclose(embed(names), embed(padded), atol=1e-5)


def test_masked_attention_ignores_keys_outside_the_mask():
  rng = np.random.default_rng(2)
  b, q, n, h, d = 2, 5, 12, 2, 4
  qs, k, v = (rng.normal(size=s).astype(np.float32)
              for s in ((b, q, h, d), (b, n, h, d), (b, n, h, d)))
  visible = rng.uniform(size=(b, q, n)) < 0.4
  visible[0, 1] = False  # an empty mask: sees every key
  out = masked_decoder.masked_attention(qs, k, v, visible)
  # Perturb the keys and values query 0 does not see: its output stays.
  k2 = np.where(visible[:, 0, :, None, None], k, k + rng.normal(size=k.shape)
                .astype(np.float32))
  v2 = np.where(visible[:, 0, :, None, None], v, 5.0 * rng.normal(
      size=v.shape).astype(np.float32))
  out2 = masked_decoder.masked_attention(qs, k2, v2, visible)
  np.testing.assert_allclose(out2[1, 0], out[1, 0], atol=1e-5)
  np.testing.assert_allclose(out2[0, 0], out[0, 0], atol=1e-5)
  # Against the definition: softmax over the visible keys only.
  for bi in range(b):
    for qi in range(q):
      mask = visible[bi, qi] if visible[bi, qi].any() else np.ones(n, bool)
      for hi in range(h):
        logits = k[bi, :, hi] @ qs[bi, qi, hi] / np.sqrt(d)
        w = np.where(mask, np.exp(logits - logits[mask].max()), 0.0)
        np.testing.assert_allclose(out[bi, qi, hi], w @ v[bi, :, hi] / w.sum(),
                                   rtol=1e-4, atol=1e-5)


def _random_set(rng, b=3, q=7, m=4, p=20, k=5):
  masks = rng.normal(size=(b, q, p)).astype(np.float32) * 3
  classes = rng.normal(size=(b, q, k + 1)).astype(np.float32)
  targets = (rng.uniform(size=(b, m, p)) < 0.3).astype(np.float32)
  target_class = rng.integers(0, k, (b, m)).astype(np.int32)
  valid = rng.uniform(size=(b, m)) < 0.8
  return masks, classes, targets, target_class, valid


def test_matched_loss_is_invariant_to_query_order():
  rng = np.random.default_rng(3)
  masks, classes, targets, target_class, valid = _random_set(rng)
  weight = np.array([1.0, 0.0, 1.0], np.float32)
  loss = jax.jit(mask_sets.set_loss)
  base, parts = loss(masks, classes, targets, target_class, valid, weight)
  for seed in range(3):
    perm = np.random.default_rng(seed).permutation(masks.shape[1])
    again, _ = loss(masks[:, perm], classes[:, perm], targets, target_class,
                    valid, weight)
    np.testing.assert_allclose(again, base, rtol=1e-5)
  # Targets in another order: the same loss too.
  perm = rng.permutation(targets.shape[1])
  again, _ = loss(masks, classes, targets[:, perm], target_class[:, perm],
                  valid[:, perm], weight)
  np.testing.assert_allclose(again, base, rtol=1e-5)
  # The matching is the brute-force best one.
  query, target = mask_sets.match(masks, classes, targets, target_class,
                                  valid)
  probs = jax.nn.softmax(classes, -1)
  for bi in range(masks.shape[0]):
    cost = np.array([[0.0 if not valid[bi, j] else
                      -2 * probs[bi, i, target_class[bi, j]]
                      + float(mask_sets.mask_losses(masks[bi, i],
                                                    targets[bi, j]))
                      for j in range(targets.shape[1])]
                     for i in range(masks.shape[1])])
    best = min(sum(cost[rows[j], j] for j in range(len(rows)))
               for rows in itertools.permutations(range(masks.shape[1]),
                                                  targets.shape[1]))
    np.testing.assert_allclose(cost[query[bi], target[bi]].sum(), best,
                               rtol=1e-4, atol=1e-5)
  assert np.isfinite(parts["class_loss"]) and parts["mask_loss"] > 0


def test_semantic_labels_follow_the_confident_query():
  masks = np.full((1, 2, 4), -10.0, np.float32)
  masks[0, 0, :2] = masks[0, 1, 2:] = 10.0
  classes = np.array([[[5.0, -5, -5, -5], [-5, -5, 5, -5]]], np.float32)
  labels = mask_sets.semantic_labels(masks, classes)
  np.testing.assert_array_equal(labels, [[0, 0, 2, 2]])


def test_held_out_pairs_and_referring_targets():
  assert len(ovs.UNSEEN) == 5
  assert sorted(c // 3 for c in ovs.UNSEEN) == list(range(5))  # per colour
  assert len(ovs.TRAIN_CLASS_NAMES) == 11
  assert not {shape_scenes.class_name(c) for c in ovs.UNSEEN} & set(
      ovs.TRAIN_CLASS_NAMES)
  examples = {f: np.stack([shape_scenes.generate(i)[f] for i in range(40)])
              for f in ovs.TASK.features}
  batch = ovs.prepare(examples)
  keep = ovs.in_vocabulary(batch["segment_class"], ovs.TRAIN_CLASS_NAMES)
  for i in range(40):
    cats = examples["category"][i][examples["category"][i] >= 0]
    assert keep[i] == (not set(cats) & set(ovs.UNSEEN))
    ids = examples["panoptic"][i].reshape(-1)
    referred = cats[examples["referred"][i]]
    expected = np.isin(ids, 1 + np.flatnonzero(examples["category"][i]
                                               == referred))
    np.testing.assert_array_equal(batch["referred_mask"][i], expected)
    assert xd.CLASS_NAMES[batch["referred_class"][i]] == examples[
        "referring"][i].removeprefix("the ")
  np.testing.assert_array_equal(batch["segments"].sum(1), 1.0)  # a partition


def test_bad_input_names_the_problem(model_and_variables, tmp_path, capsys,
                                     monkeypatch):
  model, variables, image = model_and_variables
  with pytest.raises(ValueError, match="image_size 30 is not divisible by "
                                       "the encoder's total stride 8"):
    xd.XDecoderConfig(image_size=30)
  with pytest.raises(ValueError, match="class_names must name at least one"):
    xd.XDecoderConfig(class_names=())
  with pytest.raises(ValueError, match=r"words \['purple'\]"):
    xd.tokenize(["purple circle"])
  with pytest.raises(ValueError, match="height 30 is not divisible"):
    jax.eval_shape(lambda: model.apply(variables, jnp.zeros((1, 30, 32, 3)),
                                       NAMES))
  with pytest.raises(ValueError, match="an empty name list"):
    jax.eval_shape(lambda: model.apply(variables, image, NAMES[:0]))
  monkeypatch.setenv("ZOO_COMPILE_CACHE", "off")
  for item, message in (("model.image_size=30", "model.image_size 30 is "
                                                "not divisible"),
                        ("model.class_names=()", "model.class_names must "
                                                 "name at least one class")):
    workdir = tmp_path / "w"
    code, _, err = run_files.train_in_process(
        capsys, "--config", "train/configs/xdecoder.py:smoke", "--workdir",
        str(workdir), "--set", item)
    assert message in run_files.error_line(code, err)
    assert not workdir.exists()
  with pytest.raises(ConfigError, match="steps must be >= 1"):
    config_lib.load_config("xdecoder.py:steps=0")


def test_smoke_config_trains_and_reports(tmp_path):
  cfg = config_lib.load_config("xdecoder.py:smoke")
  assert cfg.steps <= 50
  summary = loop.run(cfg, tmp_path, devices=jax.devices()[:1])
  assert summary["step"] == cfg.steps
  for key in ("train_loss", "miou_seen", "miou_unseen", "referring_miou",
              "referring_miou_seen"):
    assert np.isfinite(summary[key]), (key, summary[key])
  assert 0 <= summary["miou_unseen"] <= 1
