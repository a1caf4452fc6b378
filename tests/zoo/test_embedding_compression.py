"""Embedding compression: every method's shape and bytes within its budget,
and the properties each method's paper implies, on small random tables."""

import flax.linen as nn
import jax
import numpy as np
import pytest
from jax import numpy as jnp

from train import config as config_lib
from zoo.errors import ConfigError
from zoo.vq.embedding_compression import dlrm
from zoo.vq.embedding_compression.embedding import CompressedEmbedding, bag_sums
from zoo.vq.embedding_compression.methods import CompressionConfig, quantized
from zoo.vq.embedding_compression.methods import alpt as alpt_lib
from zoo.vq.embedding_compression.methods import dpq as dpq_lib
from zoo.vq.embedding_compression.methods import pep as pep_lib
from zoo.vq.embedding_compression.methods import qr as qr_lib
from zoo.vq.embedding_compression.methods import tt_rec as tt_lib

# d = 16 as in the claim; 12k ids for lookups (DPQ gets 4 parts at 16x,
# MGQE 2), 90k for budget arithmetic, where every compressing kind reaches
# 64x (MGQE's 256-code codebooks need about 73k ids).
FIELDS, IDS, DIM = 3, 4_000, 16
LARGE_IDS = 30_000
# Kinds whose smallest table is below 1/64 of the large one's.
COMPRESSING = ("hash", "qr", "tt_rec", "robe", "dhe", "dpq", "mgqe", "pep")


def _ids(seed=0, batch=16):
  return jnp.asarray(np.random.default_rng(seed).integers(
      0, IDS, size=(batch, FIELDS)), jnp.int32)


def _embed(method, ids=None, key=0):
  module = CompressedEmbedding(method, FIELDS, IDS, DIM)
  ids = _ids() if ids is None else ids
  # Jitted: one compilation instead of one per eager op.
  variables = nn.meta.unbox(jax.jit(module.init)(jax.random.key(key), ids))
  out = jax.jit(lambda v, i: module.apply(v, i, mutable=["losses"])[0])(
      variables, ids)
  return module, variables, out


@pytest.mark.parametrize("kind", sorted(CompressionConfig.kinds()))
def test_every_kind_gives_vectors_within_its_budget(kind):
  budget = 1.0 if kind == "full" else 2.0
  method = CompressionConfig.of_kind(kind)(budget=budget)
  module, _, out = _embed(method)
  assert out.shape == (16, FIELDS, DIM) and out.dtype == jnp.float32
  assert np.all(np.isfinite(out))
  full = FIELDS * IDS * DIM * 4
  assert module.param_bytes() <= full / budget
  assert module.ratio() >= budget


@pytest.mark.parametrize("kind", COMPRESSING)
@pytest.mark.parametrize("budget", [16.0, 64.0])
def test_compressing_kinds_fit_tight_budgets(kind, budget):
  method = CompressionConfig.of_kind(kind)(budget=budget)
  module = CompressedEmbedding(method, FIELDS, LARGE_IDS, DIM)
  assert module.param_bytes() <= FIELDS * LARGE_IDS * DIM * 4 / budget


@pytest.mark.parametrize("kind,budget", [("int", 16.0), ("alpt", 4.0),
                                         ("mde", 16.0), ("full", 2.0)])
def test_unreachable_budget_names_the_smallest_table(kind, budget):
  method = CompressionConfig.of_kind(kind)(budget=budget)
  with pytest.raises(ValueError, match=f"{kind}: budget .* unreachable; the "
                     "smallest table it can store takes"):
    CompressedEmbedding(method, FIELDS, IDS, DIM).param_bytes()
  with pytest.raises(ConfigError, match="unreachable"):
    config_lib.load_config(
        f"embedding_compression.py:method={kind},budget={budget}")


def test_bad_ids_and_budgets_are_clear_errors():
  module = CompressedEmbedding(CompressionConfig.of_kind("hash")(), FIELDS,
                               IDS, DIM)
  with pytest.raises(ValueError, match=r"ids must be integer \[batch, 3\]"):
    module.init(jax.random.key(0), jnp.zeros((4, 2), jnp.int32))
  with pytest.raises(ValueError, match=rf"ids must be in \[0, {IDS}\)"):
    module.init(jax.random.key(0), jnp.full((4, 3), IDS, jnp.int32))
  with pytest.raises(ValueError, match="budget must be a finite ratio >= 1"):
    CompressionConfig.of_kind("qr")(budget=0.5)


def test_qr_is_collision_free():
  ids = np.arange(FIELDS * IDS)
  m = qr_lib.QR(budget=16.0).collision(
      CompressedEmbedding(qr_lib.QR(), FIELDS, IDS, DIM).spec)
  assert m > 1
  q, r = qr_lib.qr_indices(ids, m)
  assert len(set(zip(q.tolist(), r.tolist()))) == len(ids)


def test_tt_rec_table_equals_row_lookup():
  method = tt_lib.TTRec(budget=16.0)
  module, variables, out = _embed(method)
  cores = variables["params"]
  n1, n2, n3 = tt_lib.grid(FIELDS * IDS)
  i = jnp.arange(n1 * n2 * n3)
  whole = tt_lib.tt_rows(cores["core1"], cores["core2"], cores["core3"],
                         i // (n2 * n3), (i // n3) % n2, i % n3)
  flat = (_ids() + jnp.arange(FIELDS) * IDS).reshape(-1)
  np.testing.assert_allclose(whole[flat].reshape(out.shape), out, rtol=1e-5,
                             atol=1e-9)
  # The contraction written out for one row.
  g1, g2, g3 = (np.asarray(cores[f"core{k}"]) for k in (1, 2, 3))
  row = np.einsum("ja,akb,bl->jkl", g1[1], g2[2], g3[0]).reshape(-1)
  np.testing.assert_allclose(whole[(1 * n2 + 2) * n3], row, rtol=1e-5)


def test_int8_round_trip_error_is_at_most_half_a_step():
  rng = np.random.default_rng(0)
  scale = 0.01
  v = jnp.asarray(rng.uniform(-1.27, 1.27, size=10_000), jnp.float32)
  q = quantized.fake_quantize(v, scale, 8)
  assert float(jnp.max(jnp.abs(q - v))) <= scale / 2 + 1e-6
  np.testing.assert_allclose(q / scale, np.round(q / scale), atol=1e-4)
  assert float(jnp.max(quantized.fake_quantize(jnp.float32(9.0), scale, 8))
               ) == pytest.approx(1.27)


def test_alpt_scale_gets_the_lsq_gradient():
  method = alpt_lib.ALPT(budget=2.0)
  module = CompressedEmbedding(method, FIELDS, IDS, DIM)
  ids = _ids()
  variables = nn.meta.unbox(module.init(jax.random.key(0), ids))
  grads = jax.grad(lambda p: jnp.sum(module.apply({"params": p}, ids) ** 2))(
      variables["params"])
  used = np.unique(np.asarray(ids + jnp.arange(FIELDS) * IDS))
  g = np.asarray(grads["scale"])[:, 0]
  assert np.all(g[used] != 0)
  assert np.all(np.delete(g, used) == 0)


def test_pep_gives_exact_zeros_and_meets_the_budget_after_finalize():
  method = pep_lib.PEP(budget=16.0, threshold_init=-4.0)
  module, variables, out = _embed(method)
  rows = np.asarray(variables["params"]["table"])
  flat = np.asarray(_ids() + jnp.arange(FIELDS) * IDS)
  raw = rows[flat]
  threshold = 1 / (1 + np.exp(4.0))
  np.testing.assert_array_equal(np.asarray(out)[np.abs(raw) <= threshold],
                                0.0)
  done = method.finalize(variables, module.spec)
  stored = pep_lib.soft_threshold(
      rows, threshold + float(done["pruning"]["tau"]))
  assert np.count_nonzero(stored) <= method.max_nonzeros(module.spec)
  assert np.count_nonzero(stored) >= 0.9 * method.max_nonzeros(module.spec)
  after = module.apply(done, _ids())
  np.testing.assert_array_equal(np.asarray(after), np.asarray(stored)[flat])


@pytest.mark.parametrize("kind", ["dpq", "mgqe"])
def test_product_codes_are_the_brute_force_argmin(kind):
  method = CompressionConfig.of_kind(kind)(budget=16.0)
  module, variables, out = _embed(method)
  params = variables["params"]
  book = np.asarray(params["codebook"])  # [D, K, d/D]
  parts = book.shape[0]
  flat = np.asarray(_ids() + jnp.arange(FIELDS) * IDS).reshape(-1)
  q = np.asarray(params["query"])[flat].reshape(len(flat), parts, -1)
  allowed = np.full(len(flat), book.shape[1])
  if kind == "mgqe":
    rank = np.asarray(variables["frequency"]["rank"])[flat]
    allowed = np.where(rank < method.head_ids(module.spec), method.head_codes,
                       method.tail_codes)
  dist = ((q[:, :, None, :] - book[None]) ** 2).sum(-1)  # [n, D, K]
  dist = np.where(np.arange(book.shape[1]) >= allowed[:, None, None], np.inf,
                  dist)
  codes = book[np.arange(parts), dist.argmin(-1)]
  np.testing.assert_allclose(np.asarray(out).reshape(len(flat), parts, -1),
                             codes, rtol=1e-5, atol=1e-8)
  # Straight-through: the query gets the gradient of the codes.
  grad = jax.grad(lambda p: jnp.sum(module.apply({**variables, "params": p},
                                                 _ids(), mutable=["losses"]
                                                 )[0]))(params)
  assert np.any(np.asarray(grad["query"]) != 0)
  assert dpq_lib.COMMITMENT == 0.25


def test_frequency_ranks_come_from_training_counts():
  method = CompressionConfig.of_kind("mgqe")(budget=16.0)
  module = CompressedEmbedding(method, FIELDS, IDS, DIM)
  variables = nn.meta.unbox(module.init(jax.random.key(0), _ids()))
  train = np.stack([np.full(50, 7), np.full(50, 3), np.full(50, IDS - 1)],
                   1)
  train[:10, 0] = 5
  wrapped = {c: {"embedding": v} for c, v in variables.items()}
  ranks = np.asarray(dlrm.with_frequencies(wrapped, train)["frequency"][
      "embedding"]["rank"]).reshape(FIELDS, IDS)
  assert ranks[0, 7] == 0 and ranks[0, 5] == 1 and ranks[1, 3] == 0
  assert sorted(ranks[2]) == list(range(IDS))


def test_bag_sums_equal_per_bag_sums():
  vectors = jnp.asarray(np.random.default_rng(0).normal(size=(7, 4)),
                        jnp.float32)
  bags = jnp.asarray([0, 0, 2, 2, 2, 3, 0])
  got = bag_sums(vectors, bags, 4)
  want = np.zeros((4, 4), np.float32)
  np.add.at(want, np.asarray(bags), np.asarray(vectors))
  np.testing.assert_allclose(got, want, rtol=1e-6)


def test_smoke_config_trains_and_scores():
  from eval.claims import embedding_compression as claim  # noqa: PLC0415
  from train.data.builders import zipf_ctr  # noqa: PLC0415

  cfg = config_lib.load_config("embedding_compression.py:smoke,method=hash,"
                               "budget=64")
  assert cfg.steps <= 50
  metrics = claim.train_and_score(cfg, zipf_ctr.generate())
  assert metrics["compression_ratio"] == pytest.approx(64.0)
  assert 0.5 < metrics["auc"] < 1.0
