"""LIMIT's claims: single vectors cannot represent all top-k subsets.

1. On LIMIT-small (46 people, 1000 "Who likes X?" queries, two relevant
   people each), Recall@2: BM25 (tokens with punctuation stripped) is near
   perfect, single-vector MiniLM (mean pooled, cosine) stays low, and
   multi-vector MiniLM (MaxSim over its normalised token states, no
   training) escapes the limit. MUVERA (FDE top-10 candidates, MaxSim
   rerank) is reported beside them as a fraction of exhaustive MaxSim; its
   candidate stage is itself one vector per text (the FDE), so LIMIT's
   argument applies to it.
2. Free embeddings: the largest number of documents n for which every pair
   of them can be some query's exact top 2 grows with the dimension d; the
   measured critical n is compared with the paper's cubic fit at d = 4, 6, 8.

Issue 20 (fair settings). Each earlier record stays, relabelled
"sensitivity:", beside the record that now carries the claim.

MUVERA. No defect found against the paper and google/graph-mining's FDE
(ops.fde follows it step by step, documents filled, queries not). Its
precondition is that FDE(Q).FDE(P) orders documents as Chamfer does, which
needs each query token's partition to hold few document tokens besides its
nearest one. Measured on LIMIT-small before choosing (MiniLM tokens, 384-d;
documents have 161 tokens, queries 7): the 10 FDE candidates hold 57% of
exhaustive MaxSim's top 2 at our earlier (R, k_sim, d_proj) = (20, 4, 16),
61% at the paper's end-to-end (20, 5, 16), 66% at (20, 6, 16), 71% at
(20, 5, 64), 55% with the paper's final projection of (40, 6, 128) to
10240, and 76% even without any inner projection (20 x 32 x 384 dims); 20
candidates, 43% of the corpus, hold 72-89%. So no setting of the paper's
grid meets the precondition here: a relevant person differs from the others
by one attribute token among ~160, each document block averages 10.4 tokens
at k_sim = 4 and 6.2 at 5, and a 16-d sketch of 384-d tokens adds its own
noise (beyond the grid, k_sim = 7 leaves 2.7 tokens a block and still only
65%).
The fair setting is the paper's own end-to-end encoding, (20, 5, 16) =
10240 dims, with the claim's 10 candidates; if it fails, it fails for that
measured reason, and the record says how much of MaxSim's top 2 its
candidates hold. Measured: ratio 0.604 (Recall@2 0.580 against MaxSim's
0.960; the candidates hold 60.7% of MaxSim's top 2): FAIL, for that reason.

Critical n. The earlier record was not on a coarse grid (gallop, binary
search and a sweep at resolution 1: d = 4 evaluated n = 4, 5, 7, 8, 9, 10,
11) but its protocol differed from the reference's
(google-deepmind/limit `free_embedding_experiment.py`) in ways that all
raise n: a success test at every step instead of every 50, n solved if any
of three seeds solves it, and the largest n solved in a sweep instead of the
search's result. Fixed: `limit.critical_n_per_seed` runs the reference's
protocol (`limit.PAPER_PROTOCOL`: one seed per search, success tested every
50 steps and at the end, 100k steps, the search's result), once for each of
seeds 0, 1, 2; the claim holds if the mean over seeds does, and the record
gives each seed's n. Measured: n = 9/8/9, 18/19/19, 29/29/28 at d = 4, 6, 8
(means 8.67, 18.67, 28.67; relative errors 0.301, 0.144, 0.064): pass.
Near the critical n, solvability is not monotone in n (at d = 4, seed 0
fails n = 8 but solves 9 when tested every step), so a single seed's value
depends on the n its search visits; the spread is stated for that reason.
"""

import numpy as np

import ops
from eval.claims import measured
from eval.retrieval import data
from zoo.retrieval import limit, metrics, minilm, muvera, rankers

DIMENSIONS = (4, 6, 8)
SEEDS = (0, 1, 2)
NUM_CANDIDATES = 10
# MUVERA's end-to-end encoding: (R, k_sim, d_proj) = (20, 5, 16), 10240-d.
PAPER_FDE = ops.FDEConfig(dimension=384, num_repetitions=20,
                          num_simhash_projections=5, seed=1,
                          projection="ams_sketch", projection_dimension=16)
SENSITIVITY = "sensitivity: "


def _recall2(rset, top) -> float:
  rankings = {q: [rset.doc_ids[j] for j in row]
              for q, row in zip(rset.query_ids, top)}
  return metrics.summarize(metrics.evaluate(
      rankings, rset.qrels, ["recall@2"]))["recall@2"]


def _muvera(rset, tokens, maxsim_top, maxsim, cfg, label, prefix=""):
  """MUVERA's record at `cfg`: Recall@2 as a fraction of exhaustive
  MaxSim's, with how much of MaxSim's top 2 the candidates hold."""
  result = muvera.search(*tokens, cfg=cfg, num_candidates=NUM_CANDIDATES,
                         depth=NUM_CANDIDATES)
  held = np.mean([len(set(c) & set(t[:2])) / 2
                  for c, t in zip(result.candidates, maxsim_top)])
  recall = _recall2(rset, result.top)
  return measured(
      "limit", f"{prefix}LIMIT-small: MUVERA ({label}, "
      f"{cfg.output_dimension}-d FDE; {NUM_CANDIDATES} FDE candidates, "
      "MaxSim rerank) keeps >= 90% of exhaustive MaxSim's Recall@2; "
      f"precondition: the candidates hold {held:.1%} of exhaustive MaxSim's "
      "top 2 (value: ratio; baseline: MUVERA Recall@2)",
      "recall@2_ratio_to_maxsim", recall / maxsim, recall, 0.90)


def _critical_n_records(critical, per_seed) -> list:
  """Sensitivity records of the earlier protocol, then the reference's."""
  earlier = (f"{SENSITIVITY}free embeddings, earlier protocol (n solved if "
             "any of seeds 0-2 solves it, success tested every step, 20k "
             "steps, largest n of a +-1 sweep)")
  means = [float(np.mean(n)) for n in per_seed]
  spread = "; ".join(f"d={d}: {'/'.join(map(str, n))}"
                     for d, n in zip(DIMENSIONS, per_seed))
  paper = ("free embeddings, the reference's protocol (one seed per "
           "search, success tested every 50 steps, 100k steps, the search's "
           f"result), mean over seeds 0, 1, 2 (per seed: {spread})")
  records = [measured(
      "limit", f"{earlier}: critical n strictly increases with d (d = "
      f"{DIMENSIONS}: n = {tuple(critical)}); value 1 = yes",
      "critical_n_increasing", float(np.all(np.diff(critical) > 0)), None,
      1.0)]
  for d, n in zip(DIMENSIONS, critical):
    fit = limit.paper_fit(d)
    records.append(measured(
        "limit", f"{earlier}, d={d}: critical n = {n} within 35% of the "
        f"paper's fit {fit:.1f} (value: relative error; baseline: fit)",
        "critical_n_relative_error", abs(n - fit) / fit, fit, 0.35,
        higher_is_better=False))
  records.append(measured(
      "limit", f"{paper}: mean critical n strictly increases with d (d = "
      f"{DIMENSIONS}: mean n = {tuple(round(m, 2) for m in means)}); "
      "value 1 = yes", "critical_n_increasing",
      float(np.all(np.diff(means) > 0)), None, 1.0))
  for d, n, mean in zip(DIMENSIONS, per_seed, means):
    fit = limit.paper_fit(d)
    records.append(measured(
        "limit", f"{paper}, d={d}: mean critical n = {mean:.2f} "
        f"({min(n)}-{max(n)}) within 35% of the paper's fit {fit:.1f} "
        "(value: relative error; baseline: fit)",
        "critical_n_relative_error", abs(mean - fit) / fit, fit, 0.35,
        higher_is_better=False))
  return records


def check():
  rset = data.load("limit_small")
  encoder = minilm.load()
  bm25 = _recall2(rset, rankers.bm25_ranker("alnum_lower")(rset))
  single = _recall2(rset, rankers.single_vector(encoder)(rset))
  maxsim_top = rankers.maxsim_ranker(encoder)(rset)
  maxsim = _recall2(rset, maxsim_top)
  tokens = (*muvera.padded_tokens(encoder, rset.queries),
            *muvera.padded_tokens(encoder, rset.docs))
  records = [
      measured("limit", "LIMIT-small: BM25 (punctuation stripped) "
               "Recall@2 >= 0.95", "recall@2", bm25, None, 0.95),
      measured("limit", "LIMIT-small: single-vector MiniLM Recall@2 <= 0.30 "
               "(baseline: BM25)", "recall@2", single, bm25, 0.30,
               higher_is_better=False),
      measured("limit", "LIMIT-small: multi-vector MiniLM (MaxSim, no "
               "training) Recall@2 >= 0.90 (baseline: single vector)",
               "recall@2", maxsim, single, 0.90),
      _muvera(rset, tokens, maxsim_top, maxsim, muvera.DEFAULT_FDE,
              "earlier (R, k_sim, d_proj) = (20, 4, 16)", SENSITIVITY),
      _muvera(rset, tokens, maxsim_top, maxsim, PAPER_FDE,
              "the paper's end-to-end (R, k_sim, d_proj) = (20, 5, 16)"),
  ]
  critical = [limit.critical_n(d) for d in DIMENSIONS]
  per_seed = [limit.critical_n_per_seed(d, seeds=SEEDS) for d in DIMENSIONS]
  return records + _critical_n_records(critical, per_seed)
