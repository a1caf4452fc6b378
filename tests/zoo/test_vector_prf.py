"""Vector PRF placements, rankers and their registration."""

import dataclasses
import zlib

import numpy as np
import pytest

from eval.retrieval import main as retrieval_main
from ops import prf
from zoo.retrieval import vector_prf


def _runs(seed, q=6, n=40, d=8):
  rng = np.random.default_rng(seed)
  unit = lambda x: (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(
      np.float32)
  return vector_prf.Runs(unit(rng.standard_normal((q, d))),
                         unit(rng.standard_normal((n, d))),
                         rng.gamma(2.0, 2.0, (q, n)))


def _order(scores):
  return np.argsort(-scores, axis=1, kind="stable")


@pytest.mark.parametrize("settings", [vector_prf.AVERAGE,
                                      vector_prf.ROCCHIO])
def test_placements_compose_prf_and_fusion(settings):
  runs = _runs(0)
  dense = runs.queries @ runs.docs.T
  sparse = np.float32(runs.sparse)

  def fuse(scores):
    return np.asarray(prf.interpolate(sparse, scores, alpha=0.5, depth=10))

  def prf_scores(first):
    q = prf.vector_prf(runs.queries, runs.docs, first, depth=settings.depth,
                       method=settings.method, alpha=settings.alpha,
                       beta=settings.beta)
    return np.asarray(q) @ runs.docs.T

  want = {"none": prf_scores(dense), "before": prf_scores(fuse(dense)),
          "after": fuse(prf_scores(dense)),
          "both": fuse(prf_scores(fuse(dense)))}
  for placement, scores in want.items():
    got = vector_prf.placement_scores(runs, placement, settings, alpha=0.5,
                                      fusion_depth=10)
    np.testing.assert_allclose(got, scores, rtol=1e-5, atol=1e-5)


def test_no_feedback_and_no_weight_give_the_dense_order():
  runs = _runs(1)
  no_prf = dataclasses.replace(vector_prf.AVERAGE, depth=0)
  dense = _order(runs.queries @ runs.docs.T)
  for placement in vector_prf.PLACEMENTS:
    got = vector_prf.placement_scores(runs, placement, no_prf, alpha=0.0,
                                      fusion_depth=40)
    np.testing.assert_array_equal(_order(got), dense)


def test_fusion_depth_is_capped_by_the_pool_and_bad_placement_named():
  runs = _runs(2, n=5)
  assert np.isfinite(vector_prf.placement_scores(runs, "both")).all()
  with pytest.raises(ValueError, match="placement"):
    vector_prf.placement_scores(runs, "middle")


class _FakeEncoder:
  """Unit vectors from a hash of each text (MiniLM stays unloaded)."""

  def encode_sentences(self, texts):
    rows = [np.random.default_rng(zlib.crc32(t.encode())).standard_normal(8)
            for t in texts]
    return np.array([r / np.linalg.norm(r) for r in rows], np.float32)


def test_ranker_reads_texts():
  @dataclasses.dataclass
  class Texts:
    queries: list
    docs: list

  docs = [f"doc about topic{i} and thing{i % 3}" for i in range(12)]
  texts = Texts([f"which topic{i}?" for i in range(4)], docs)
  top = vector_prf.ranker(_FakeEncoder(), "both", "alnum_lower", alpha=3.0,
                          depth=5)(texts)
  assert top.shape == (4, 5)
  # BM25 dominates with a large weight: each query's own topic comes first.
  np.testing.assert_array_equal(top[:, 0], np.arange(4))


def test_rankers_registered_under_their_placement_names():
  names = retrieval_main.ranker_names()
  for placement in vector_prf.PLACEMENTS:
    assert f"prf_{placement}" in names
    factory = retrieval_main.ranker_factory(f"prf_{placement}")
    assert factory is vector_prf.RANKERS[f"prf_{placement}"]
  assert vector_prf.tokenizer_for("stdlib_code_search") == "code_identifiers"
  assert vector_prf.tokenizer_for("limit_small") == "alnum_lower"
