"""UniXcoder: mode masks, causality, pooling, DNS/ULM rows, bad input."""

import functools
import types

import jax
import numpy as np
import pytest
from jax import numpy as jnp

from train import config as config_lib
from train import loop
from train.tasks import unixcoder as task
from train.tasks import unixcoder_pretrain as pretrain_task
from zoo.errors import DataError
from zoo.lm import special_tokens
from zoo.lm.decoder import CachedLM, DecoderConfig, DecoderLM
from zoo.retrieval import ast_flatten, unixcoder

V = unixcoder.VOCAB_SIZE
CFG = unixcoder.UniXcoderConfig(
    lm=DecoderConfig(vocab_size=V, embed_dim=16, num_layers=2, num_heads=2,
                     mlp_dim=32, dropout=0.1), max_tokens=12)
T = 10


def _texts(seed, n=4, length=T, lo=1):
  """Right-padded random BPE texts (ids in [4, 2048)), lengths in
  [lo, length]."""
  rng = np.random.default_rng(seed)
  tokens = rng.integers(4, unixcoder.BPE_SIZE, (n, length)).astype(np.int32)
  mask = np.arange(length)[None] < rng.integers(lo, length + 1, n)[:, None]
  return np.where(mask, tokens, 0).astype(np.int32), mask


@functools.cache
def _model():
  model = unixcoder.build(CFG)
  return model, model.init(jax.random.key(0), *_texts(0))


@functools.partial(jax.jit, static_argnums=(3,))
def _states(variables, ids, real, mode, source_end=None):
  return _model()[0].apply(variables, ids, real, mode, source_end,
                           method="states")


def test_mode_masks_match_their_definitions():
  rng = np.random.default_rng(1)
  real = np.arange(8)[None] < rng.integers(1, 9, 5)[:, None]
  source_end = rng.integers(1, 9, 5)
  for mode in unixcoder.MODES:
    got = np.asarray(unixcoder.mode_mask(mode, jnp.asarray(real),
                                         jnp.asarray(source_end)))
    for b in range(5):
      for i in range(8):
        for j in range(8):
          allowed = {"encoder-only": True, "decoder-only": j <= i,
                     "encoder-decoder": j <= i or j < source_end[b]}[mode]
          assert got[b, i, j] == ((allowed and real[b, j]) or i == j)


def test_causal_mode_ignores_later_tokens_and_full_mode_does_not():
  model, variables = _model()
  tokens, mask = _texts(2, lo=T)
  later = tokens.copy()
  later[:, 6:] = (later[:, 6:] + 7) % 2000 + 4
  for mode, same in (("decoder-only", True), ("encoder-only", False)):
    a, b = (_states(variables, *unixcoder.layout(jnp.asarray(t),
                                                 jnp.asarray(mask), mode),
                    mode) for t in (tokens, later))
    cut = unixcoder.PREFIX + 6
    assert np.allclose(a[:, :cut], b[:, :cut], atol=1e-5) == same
  # encoder-decoder: the source is seen whole, the target causally.
  ids, real = unixcoder.layout(jnp.asarray(tokens), jnp.asarray(mask),
                               "encoder-decoder")
  end = jnp.full((len(ids),), unixcoder.PREFIX + 4)
  changed = ids.at[:, unixcoder.PREFIX + 8].set(9)
  a, b = (_states(variables, x, real, "encoder-decoder", end)
          for x in (ids, changed))
  assert np.allclose(a[:, :unixcoder.PREFIX + 8], b[:, :unixcoder.PREFIX + 8],
                     atol=1e-5)
  early = ids.at[:, unixcoder.PREFIX + 2].set(9)
  c = _states(variables, early, real, "encoder-decoder", end)
  assert not np.allclose(a[:, unixcoder.PREFIX], c[:, unixcoder.PREFIX])


def test_embeddings_ignore_padding_and_empty_texts_are_zero():
  model, variables = _model()
  tokens, mask = _texts(3)
  mask[0] = False
  jitted = jax.jit(lambda t, m: model.apply(variables, t, m))
  encode = lambda t, m: np.asarray(jitted(jnp.asarray(t), jnp.asarray(m)))
  base = encode(tokens, mask)
  noisy = np.where(mask, tokens, 77)
  wide = np.pad(noisy, ((0, 0), (0, 5)), constant_values=5)
  assert np.allclose(base, encode(noisy, mask), atol=1e-5)
  assert np.allclose(base, encode(wide, np.pad(mask, ((0, 0), (0, 5)))),
                     atol=1e-5)
  assert np.all(base[0] == 0) and np.all(np.isfinite(base))
  assert np.allclose(np.linalg.norm(base[1:], axis=1), 1, atol=1e-5)
  # Over-long texts are cut at max_tokens.
  long_tokens, long_mask = _texts(4, length=20, lo=20)
  assert np.allclose(encode(long_tokens, long_mask),
                     encode(long_tokens[:, :12], long_mask[:, :12]),
                     atol=1e-5)


def test_dns_rows_interleave_back_to_the_text():
  tokens, mask = _texts(5, n=6, length=40, lo=20)
  width = unixcoder.PREFIX + 40 + pretrain_task.DNS_TARGET
  ids, real, end, labels, weights = jax.jit(functools.partial(
      pretrain_task.dns_rows, cfg=CFG, width=width))(
          jax.random.key(1), jnp.asarray(tokens), jnp.asarray(mask))
  ids, real, end = map(np.asarray, (ids, real, end))
  spans = 0
  for b in range(6):
    source = ids[b, unixcoder.PREFIX:end[b]].tolist()
    target = ids[b, end[b]:real[b].sum()].tolist()
    assert target[-1] == special_tokens.EOS
    pieces, current = {}, None
    for t in target[:-1]:
      if t >= unixcoder.SENTINEL_BASE:
        current = pieces.setdefault(t, [])
      else:
        current.append(t)
    restored = [x for t in source for x in pieces.get(t, [t])]
    assert restored == tokens[b, :mask[b].sum()].tolist()
    spans += len(pieces)
    # The target is predicted causally, each token from the one before.
    pos = np.nonzero(np.asarray(weights[b]))[0]
    assert pos[0] == end[b] - 1 and len(pos) == len(target)
    assert np.all(np.asarray(labels[b])[pos] == ids[b, pos + 1])
  assert spans > 0


def test_ulm_and_mlm_rows_label_what_they_should():
  tokens, mask = _texts(6)
  width = unixcoder.PREFIX + T + 4
  ids, real, labels, weights = map(np.asarray, jax.jit(
      pretrain_task.ulm_rows, static_argnums=2)(jnp.asarray(tokens),
                                                jnp.asarray(mask), width))
  for b in range(len(ids)):
    n = mask[b].sum()
    assert ids[b, unixcoder.PREFIX + n] == special_tokens.EOS
    pos = np.nonzero(weights[b])[0]
    assert pos.tolist() == list(range(unixcoder.PREFIX - 1,
                                      unixcoder.PREFIX + n))
    assert np.all(labels[b, pos] == ids[b, pos + 1])
  ids, real, labels, weights = map(np.asarray, jax.jit(
      pretrain_task.mlm_rows, static_argnums=(3, 4))(
          jax.random.key(2), jnp.asarray(tokens), jnp.asarray(mask), CFG,
          width))
  assert np.all(ids[weights] == special_tokens.MASK)
  assert np.all(labels[:, unixcoder.PREFIX:unixcoder.PREFIX + T][
      mask] == tokens[mask])


def test_special_and_marker_ids_are_distinct_and_after_the_bpe():
  ids = [unixcoder.CLS, unixcoder.SEP, *unixcoder.MODE_IDS.values(),
         *range(unixcoder.SENTINEL_BASE, unixcoder.MARKER_BASE),
         *unixcoder.MARKER_IDS.values()]
  assert len(set(ids)) == len(ids) == V - unixcoder.BPE_SIZE
  assert min(ids) == unixcoder.BPE_SIZE and max(ids) == V - 1
  assert len(unixcoder.MARKER_IDS) == len(ast_flatten.MARKERS)


def test_bad_input_is_named():
  with pytest.raises(ValueError, match="texts"):
    unixcoder.text_ids(None, "one string")
  with pytest.raises(ValueError, match="codes"):
    unixcoder.code_ids(None, "def f(): pass", "ast")
  with pytest.raises(ValueError, match="mode"):
    unixcoder.layout(jnp.zeros((1, 2), jnp.int32), jnp.ones((1, 2), bool),
                     "encoder")
  with pytest.raises(ValueError, match="mode"):
    unixcoder.mode_mask("bidirectional", jnp.ones((1, 2), bool))
  with pytest.raises(DataError, match="m.py::bad"):
    unixcoder.code_ids(None, ["def bad(:"], "ast", ["m.py::bad"])
  with pytest.raises(ValueError, match="mcl_form"):
    unixcoder.UniXcoderConfig(lm=CFG.lm, mcl_form="tokens")


def test_prefix_lm_generation_sees_the_source_both_ways():
  model, variables = _model()
  tokens, mask = _texts(7, n=2, lo=T)
  ids, real = unixcoder.layout(jnp.asarray(tokens), jnp.asarray(mask),
                               "encoder-decoder")
  lm = task.PrefixLM(CachedLM(variables["params"]["lm"], DecoderLM(CFG.lm)))
  logits, _ = jax.jit(lm.extend)(ids, lm.init_cache(2, ids.shape[1] + 2))
  states = _states(variables, ids, real, "encoder-decoder",
                   jnp.full((2,), ids.shape[1]))
  want = model.apply(variables, states, method="logits")
  assert np.allclose(logits, want, atol=1e-4)


def test_beam_comments_of_a_batch_equal_those_of_each_function_alone():
  model, variables = _model()
  tokens, mask = _texts(8, n=2, lo=3)
  together = task.generate_comments(model, variables, tokens, mask, 4, 2)
  for row, (t, m) in enumerate(zip(tokens, mask)):
    n = int(m.sum())
    alone = task.generate_comments(model, variables, t[None, :n],
                                   m[None, :n], 4, 2)
    assert np.array_equal(together[row], alone[0])


def test_smoke_config_trains_with_cmg_and_its_run_ranks_texts(tmp_path):
  cfg = config_lib.load_config("unixcoder.py:smoke")
  summary = loop.run(cfg, tmp_path, devices=jax.devices()[:1])
  assert summary["step"] == cfg.steps and np.isfinite(summary["train_loss"])
  assert np.isfinite(summary["train_cmg"]) and "cmg_token_f1" in summary
  rank = task.ranker_for("stdlib_code_search", str(tmp_path))
  texts = types.SimpleNamespace(
      queries=["Return the sum of a and b.", ""],
      docs=["def add(a, b):\n  return a + b", "def f(): pass",
            "def g():\n  return"])
  top = rank(texts)
  assert top.shape == (2, 3)
  assert all(sorted(row) == [0, 1, 2] for row in top)
