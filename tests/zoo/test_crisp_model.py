"""CRISP's model: clustered encodings that reduce to ColBERT's."""

import jax
import numpy as np
from jax import numpy as jnp

import ops
from zoo.retrieval.colbert import ColBERTConfig, ColBERTHead
from zoo.retrieval.crisp import CRISP, CRISPConfig
from zoo.retrieval.heads.linear import LinearHead

COLBERT = ColBERTConfig(head=LinearHead(out_dim=16), input_dim=24)


def _inputs(seed=0, b=3, length=12):
  rng = np.random.default_rng(seed)
  states = jnp.asarray(rng.normal(size=(b, length, 24)), jnp.float32)
  lengths = np.array([length, 7, 3])[:b]
  mask = jnp.asarray(np.arange(length)[None] < lengths[:, None])
  return states, mask, lengths


def test_one_cluster_per_token_scores_like_colbert():
  states, mask, _ = _inputs()
  crisp = CRISP(CRISPConfig(colbert=COLBERT, query_clusters=12,
                            doc_clusters=12))
  variables = crisp.init(jax.random.key(0), states)
  head = ColBERTHead(COLBERT)
  head_vars = {"params": variables["params"]["head"]}
  q, q_mask = crisp.apply(variables, states, mask, "query", method="encode")
  d, d_mask = crisp.apply(variables, states[::-1], mask[::-1], "doc",
                          method="encode")
  tq, tq_mask = head.apply(head_vars, states, mask, "query", method="encode")
  td, td_mask = head.apply(head_vars, states[::-1], mask[::-1], "doc",
                           method="encode")
  np.testing.assert_allclose(
      ops.maxsim(q, d, q_mask=q_mask, d_mask=d_mask),
      ops.maxsim(tq, td, q_mask=tq_mask, d_mask=td_mask), rtol=1e-5)


def test_cluster_counts_per_side_and_ratio():
  states, mask, lengths = _inputs(1)
  fixed = CRISP(CRISPConfig(colbert=COLBERT, query_clusters=2,
                            doc_clusters=5))
  variables = fixed.init(jax.random.key(0), states)
  _, q_mask = fixed.apply(variables, states, mask, "query", method="encode")
  _, d_mask = fixed.apply(variables, states, mask, "doc", method="encode")
  np.testing.assert_array_equal(np.asarray(q_mask).sum(1),
                                np.minimum(lengths, 2))
  np.testing.assert_array_equal(np.asarray(d_mask).sum(1),
                                np.minimum(lengths, 5))
  relative = CRISP(CRISPConfig(colbert=COLBERT, ratio=2))
  _, r_mask = relative.apply(variables, states, mask, "doc", method="encode")
  np.testing.assert_array_equal(np.asarray(r_mask).sum(1),
                                -(-lengths // 2))
