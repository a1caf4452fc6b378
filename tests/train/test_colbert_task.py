"""colbert_contrastive: MaxSim gradients, kernel path, and a smoke run on a
fake `stdlib_code_search_minilm` (a toy corpus and a word-vector encoder,
so MiniLM is never run)."""

import re
import zlib

import jax
import numpy as np
import pytest
from flax import linen as nn
from jax import numpy as jnp

from eval.retrieval import colbert as colbert_eval
from eval.retrieval import data as retrieval_data
from train import config as config_lib
from train import loop
from train.data import sources
from train.data.builders import stdlib_code_search, stdlib_code_search_minilm
from train.state import create_state, make_optimizer, train_step
from train.store import heads
from train.tasks import colbert_contrastive
from zoo.retrieval import colbert, metrics, minilm
from zoo.retrieval.heads.mlp import GLUHead

NAME = "stdlib_code_search_minilm"
WORDS = ("alpha beta gamma delta sigma omega kappa theta lambda zeta eta "
         "rho tau phi chi psi").split()


def _vector(word: str) -> np.ndarray:
  rng = np.random.default_rng(zlib.crc32(word.encode()))
  return rng.standard_normal(stdlib_code_search_minilm.HIDDEN).astype(
      np.float16)


class WordEncoder:
  """`encode_tokens` stand-in: a fixed vector per word, [CLS]/[SEP] added."""

  def encode_tokens(self, texts):
    words = [["[CLS]", *re.findall(r"\w+", t)[:254], "[SEP]"] for t in texts]
    length = -(-max(map(len, words)) // 8) * 8
    states = np.zeros((len(texts), length, stdlib_code_search_minilm.HIDDEN),
                      np.float32)
    mask = np.zeros((len(texts), length), bool)
    for i, ws in enumerate(words):
      states[i, :len(ws)] = [_vector(w) for w in ws]
      mask[i, :len(ws)] = True
    return states, mask


def _pairs():
  pairs = []
  for i in range(80):
    a, b = WORDS[i % 16], WORDS[(i * 7 + 3) % 16]
    pairs.append(stdlib_code_search.Pair(
        "fake/mod.py", f"f{i % 70}", i, f"compute the {a} of {b} number {i}",
        f"def f{i}(x):\n  return {a}({b}(x)) + {i}"))
  return pairs  # f0..f9 are defined twice, on different lines


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
  root = tmp_path_factory.mktemp("features")
  cls = stdlib_code_search_minilm.StdlibCodeSearchMinilm
  with pytest.MonkeyPatch.context() as mp:
    mp.setattr(cls, "_pairs", lambda self: _pairs())
    mp.setattr(cls, "_encoder", lambda self: WordEncoder())
    sources.prepare(NAME, root)
  return root


def test_builder_stores_padded_states_and_unique_keys(data_dir):
  pairs = {f"{p.path}:{p.line}": p for p in _pairs()}
  seen = 0
  for split in ("train", "validation", "test"):
    source = sources.data_source(NAME, split, data_dir)
    expected = [p for p in pairs.values() if p.split == split]
    assert len(source) == len(expected)
    keys = stdlib_code_search_minilm.unique_keys(expected)
    records = source.__getitems__(range(len(source)))
    assert sorted(r["key"].decode() for r in records) == sorted(keys)
    for r in records:
      pair = next(p for p, k in zip(expected, keys) if k == r["key"].decode())
      states, _ = WordEncoder().encode_tokens([pair.query])
      n = int(r["query_length"])
      assert n == len(re.findall(r"\w+", pair.query)) + 2
      assert r["query_states"].shape == (256, 384)
      np.testing.assert_array_equal(r["query_states"][:n], states[0, :n])
      assert not r["query_states"][n:].any() and not r["code_states"][
          int(r["code_length"]):].any()
    seen += sum("#2" in k for k in keys)
  assert seen == 10


def _random_vectors(seed, shape):
  x = np.random.default_rng(seed).standard_normal(shape)
  return x / np.linalg.norm(x, axis=-1, keepdims=True)


def test_doc_gradient_lands_on_argmax_tokens_only():
  b, lq, ld, dim, tau = 4, 5, 9, 6, 0.1
  q = _random_vectors(0, (b, lq, dim)).astype(np.float32)
  d = _random_vectors(1, (b, ld, dim)).astype(np.float32)
  rng = np.random.default_rng(2)
  q_mask, d_mask = rng.random((b, lq)) < 0.8, rng.random((b, ld)) < 0.6
  q_mask[:, 0] = d_mask[:, 0] = True
  grad = jax.grad(lambda d: colbert_contrastive.contrastive_loss(
      jnp.asarray(q), d, q_mask, d_mask, tau)[0])(jnp.asarray(d))

  q64, d64 = q.astype(np.float64), d.astype(np.float64)
  sim = np.einsum("bid,njd->bnij", q64, d64)
  sim = np.where(d_mask[None, :, None, :], sim, -np.inf)
  scores = np.where(q_mask[:, None, :], sim.max(-1), 0.0).sum(-1) / tau
  probs = np.exp(scores - scores.max(1, keepdims=True))
  probs /= probs.sum(1, keepdims=True)
  weight = (probs - np.eye(b)) / (b * tau)  # d loss / d MaxSim score
  expected = np.zeros_like(d64)
  winners = np.zeros(d.shape[:2], bool)
  for qi in range(b):
    for n in range(b):
      for i in np.flatnonzero(q_mask[qi]):
        j = int(np.argmax(sim[qi, n, i]))
        winners[n, j] = True
        expected[n, j] += weight[qi, n] * q64[qi, i]
  np.testing.assert_allclose(grad, expected, rtol=1e-4, atol=1e-6)
  nonzero = np.abs(np.asarray(grad)).sum(-1) > 0
  np.testing.assert_array_equal(nonzero, winners)
  assert 0 < winners.sum() < d_mask.sum()


def test_training_steps_through_the_kernel_match_xla(monkeypatch):
  cfg = colbert.ColBERTConfig(
      head=GLUHead(out_dim=8, residual=True),
      input_dim=12, temperature=0.05)
  model = colbert.build(cfg)
  rng = np.random.default_rng(0)
  inputs = {"query": rng.standard_normal((4, 6, 12)).astype(np.float32),
            "code": rng.standard_normal((4, 10, 12)).astype(np.float32),
            "query_mask": rng.random((4, 6)) < 0.8,
            "code_mask": rng.random((4, 10)) < 0.7}
  inputs["query_mask"][:, 0] = inputs["code_mask"][:, 0] = True
  train_cfg = config_lib.TrainConfig(system="colbert_proj", model=cfg)
  task = colbert_contrastive.TASK
  tx = make_optimizer(train_cfg.optim, 3)
  results = {}
  for impl in ("xla", "interpret"):
    monkeypatch.setenv("ZOO_IMPL", f"maxsim={impl}")
    state = nn.meta.unbox(create_state(model, tx, inputs, jax.random.key(0),
                                       task.init))
    grads = jax.grad(lambda p: task.loss(model, {"params": p}, inputs,
                                         None)[0])(state.params)
    for _ in range(3):
      state, _ = train_step(state, inputs, model=model, tx=tx,
                            loss_fn=task.loss, cfg=train_cfg)
    results[impl] = (grads, state.params)
  for a, b in zip(jax.tree.leaves(results["xla"]),
                  jax.tree.leaves(results["interpret"])):
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
  assert any(np.abs(g).max() > 0 for g in jax.tree.leaves(results["xla"][0]))


def test_prepare_cuts_and_pads_to_fixed_lengths():
  states = np.arange(2 * 40 * 3, dtype=np.float16).reshape(2, 40, 3)
  x, mask = colbert_contrastive.fixed_length(states, np.array([40, 3]), 32)
  assert x.shape == (2, 32, 3) and x.dtype == np.float32
  np.testing.assert_array_equal(mask.sum(1), [32, 3])
  np.testing.assert_array_equal(x[1, :3], states[1, :3])
  assert not x[1, 3:].any()


@pytest.mark.parametrize("spec", ["colbert_proj.py:smoke,head=ffn,residual",
                                  "crisp.py:smoke"])
def test_smoke_config_trains_and_restores(spec, data_dir, tmp_path,
                                          monkeypatch):
  cfg = config_lib.load_config(spec, [f"data.data_dir={data_dir}"])
  summary = loop.run(cfg, tmp_path, devices=jax.devices()[:1])
  assert np.isfinite(summary["train_loss"])
  assert summary["num_queries"] == len(sources.data_source(
      NAME, "validation", data_dir))
  assert (tmp_path / "recall_at_k.png").is_file()

  head = heads.restore(tmp_path)
  keys, features = colbert_eval.feature_split("validation", str(data_dir))
  top = colbert_eval.rank_features(head, features)
  rankings, qrels = metrics.own_pool_rankings(top)
  restored = metrics.summarize(metrics.evaluate(rankings, qrels))
  for name, value in restored.items():
    assert value == pytest.approx(summary[name], abs=1e-6), name

  # From text: the same states (word vectors), so the same ranking.
  monkeypatch.setattr(minilm, "load", lambda *a: WordEncoder())
  by_key = {k: i for i, k in enumerate(keys)}
  pairs = [p for p in _pairs() if p.split == "validation"]
  pair_keys = stdlib_code_search_minilm.unique_keys(pairs)
  order = sorted(range(len(pairs)), key=lambda i: by_key[pair_keys[i]])
  rset = retrieval_data.RetrievalSet(
      "fake", [pair_keys[i] for i in order],
      [pairs[i].query for i in order], [pair_keys[i] for i in order],
      [pairs[i].code for i in order], {pair_keys[i]: {pair_keys[i]}
                                       for i in order})
  text_top = heads.ranker_for("stdlib_code_search", str(tmp_path))(rset)
  np.testing.assert_array_equal(text_top[:, :5], top[:, :5])


def test_finetune_smoke_trains_encoder_and_ranks_from_text(tmp_path):
  """The encoder trains too; ranking from text reproduces the evaluator."""
  cfg = config_lib.load_config("colbert_proj.py:smoke,finetune")
  summary = loop.run(cfg, tmp_path, devices=jax.devices()[:1])
  head = heads.restore(tmp_path)
  assert "encoder" in head.variables["params"]
  rset = retrieval_data.load("stdlib_code_search", split="validation")
  top = heads.ranker_for("stdlib_code_search", str(tmp_path))(rset)
  rankings = {q: [rset.doc_ids[j] for j in row]
              for q, row in zip(rset.query_ids, top)}
  restored = metrics.summarize(metrics.evaluate(rankings, rset.qrels))
  assert summary["num_queries"] == len(rset.queries)
  for name, value in restored.items():
    assert value == pytest.approx(summary[name], abs=1e-6), name
