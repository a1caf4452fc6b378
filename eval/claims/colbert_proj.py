"""colbert_proj's claims: a trained head beats lexical and zero-shot search;
non-linear heads against the linear one.

Setting (toy scale, two CPU cores): all-MiniLM-L6-v2 stays frozen (the
paper fine-tunes the whole encoder; here only the head trains, on the stored
token states of `stdlib_code_search_minilm`), train/configs/colbert_proj.py
(4,228 training pairs, 128-d heads). Every test number ranks the 541 test
queries against the test split's own pool, the 541 test functions; nDCG@10
with one relevant function per query.

Heads: linear (ColBERT's projection) and the best of a small sweep of
non-linear heads (ffn or glu, with or without residual, width 1x or 2x the
input), chosen by validation nDCG@10 (521 queries against the 521 validation
functions) at seed 0; each of the two then trained with seeds 0, 1, 2.
Baselines: BM25 over split code identifiers, and zero-shot MiniLM MaxSim
through a fixed random 384 -> 128 projection (seed 0), the same dimension as
the heads.

"Beats linear" needs a mean gap of at least 0.02 that is also more than
twice the pooled sd over seeds (the calibrated rule: one system's nDCG@10
has an SE of about 0.018 on 541 queries); otherwise the honest claim is "no
worse than linear" (gap >= -0.02). A paired test over queries (per-query
nDCG@10 averaged over seeds) is reported beside them.

Issue 20 ("beats linear" fails: +0.011, paired z 1.86). No defect found:
the heads are the paper's families as PyLate builds them (up-projection,
activation, down-projection; GLU; a residual through a bias-free map), and
the tests pin their algebra (a zero-initialised FFN path plus residual is
the linear head; MaxSim's gradient reaches only each query token's best
code token). Differences from the paper, line by line: (1) the paper trains
the whole ColBERT model, projection and encoder together, so the MaxSim
gradient through the head shapes the encoder; here MiniLM is frozen and only
the head trains; (2) MS MARCO-scale training against 4,228 pairs for 300
steps of 32 (about 2.3 epochs), in-batch contrastive loss; (3) an average
over many benchmarks against one code-search test set of 541 queries (one
system's nDCG@10 SE about 0.018); (4) the same 128-d output.

Precondition: the paper's argument is that one linear map has too little
capacity for what the sparse MaxSim gradient asks of it, so a non-linear
head should fit the training pairs better and carry that to held-out
queries. Measured (train fit: nDCG@10 of the first 521 train queries against
their 521 functions; seed 0): linear 0.799, ffn+residual+expansion=2 0.819,
glu+residual+expansion=2 0.847, while on validation they score 0.729,
0.740, 0.731. The extra capacity is used on the training pairs (up to
+0.048) but at most a quarter of it reaches validation: with a frozen
encoder and 4k pairs the gain is limited by data, not by the linear head's
capacity, and the record states the train fit of the 3-seed runs.

The paper's own condition, encoder fine-tuned with the head, is the fair
setting (issue #20, chosen before its run): the `finetune` variant of
train/configs/colbert_proj.py (MiniLM and head from token ids, 300 steps of
16, AdamW 3e-5; about 10 minutes a run on two free cores), for the linear
head and the non-linear head chosen above on validation with the encoder
frozen (ffn, expansion 2; the sweep is not repeated with the encoder
training, six more runs), seeds 0, 1, 2, trained once into the user cache
(`train.store.heads.finetuned`). Its records carry the three
linear-vs-non-linear claims, with the same rule, pool and paired test; the
frozen-encoder records of those three stay as "sensitivity:".

Result (2026-12-06, 2 cores; 6 runs of 8-13 minutes, the check's fair half
160 s once cached): with the encoder trained the non-linear head gains
-0.002 nDCG@10 over linear (test 0.763 vs 0.765; validation 0.745 vs 0.734;
pooled seed sd 0.013; paired z -0.39): "beats linear" FAIL, "no worse than
linear" pass. Training the encoder did not open a gap; a reading not
measured here: at 4,228 pairs the data, not the head's capacity, still
binds (as the frozen setting's train fit showed).
"""

import json
import pathlib
import sys
import tempfile

import jax
import numpy as np

from eval.claims import measured
from eval.retrieval import colbert as colbert_eval
from eval.retrieval import data
from train import config as config_lib
from train import loop
from train.data import sources
from train.store import heads
from train.tasks import colbert_contrastive
from zoo.retrieval import metrics, minilm, rankers

SYSTEM = "colbert_proj"
SEEDS = (0, 1, 2)
LINEAR = "head=linear"
VARIANTS = (
    "head=ffn,residual,expansion=2",
    "head=glu,residual,expansion=2",
    "head=ffn,expansion=2",
    "head=ffn,residual,expansion=1",
)
FAIR_HEAD = "head=ffn,expansion=2"  # chosen with the encoder frozen
POOL = "541 test queries vs the 541 test functions"
MARGIN = 0.02
FIT_QUERIES = 521  # train pairs for the train-set fit, as many as validation


def _ndcg(rankings, qrels) -> np.ndarray:
  return metrics.evaluate(rankings, qrels, ("ndcg@10",))["ndcg@10"]


def _ranked(rset, top) -> dict[str, list[str]]:
  return {q: [rset.doc_ids[j] for j in row]
          for q, row in zip(rset.query_ids, top)}


def _test_features(rset) -> dict[str, np.ndarray]:
  """Stored test-split states, in the order of `rset`'s queries."""
  keys, features = colbert_eval.feature_split("test")
  if sorted(keys) != sorted(rset.query_ids):
    raise RuntimeError("stdlib_code_search_minilm's test keys differ from "
                       "stdlib_code_search's; rebuild the feature dataset")
  index = {k: i for i, k in enumerate(keys)}
  order = np.array([index[k] for k in rset.query_ids])
  return {name: value[order] for name, value in features.items()}


def _train_features() -> dict[str, np.ndarray]:
  """The first `FIT_QUERIES` stored train pairs, `prepare`d."""
  source = sources.data_source(colbert_eval.DATASET, "train")
  records = source.__getitems__(range(FIT_QUERIES))
  return colbert_contrastive.prepare(
      {f: np.stack([r[f] for r in records])
       for f in ("query_states", "query_length", "code_states",
                 "code_length")})


class _Runs:
  """Trains configs in a scratch folder; keeps validation, test and
  train-fit nDCG@10 (the precondition: does the linear head fit its own
  training pairs worse than a non-linear one?)."""

  def __init__(self, root: pathlib.Path, features, train_features):
    self.root, self.features = root, features
    self.train_features = train_features
    self.val, self.test, self.fit = {}, {}, {}

  def train(self, arg: str, seed: int) -> None:
    cfg = config_lib.load_config(f"colbert_proj.py:{arg},seed={seed}",
                                 ["mesh.data=1"])
    workdir = self.root / f"{arg.replace('=', '-')}_{seed}"
    print(f"{SYSTEM} claim: training {arg}, seed {seed}", file=sys.stderr)
    summary = loop.run(cfg, workdir, devices=jax.devices()[:1])
    self.val[arg, seed] = summary["ndcg@10"]
    top = colbert_eval.rank_features(heads.restore(workdir),
                                     self.features)
    self.test[arg, seed] = _ndcg(*metrics.own_pool_rankings(top))
    top = colbert_eval.rank_features(heads.restore(workdir),
                                     self.train_features)
    self.fit[arg, seed] = _ndcg(*metrics.own_pool_rankings(top)).mean()
    print(f"{SYSTEM} claim: {arg}, seed {seed}: nDCG@10 validation "
          f"{self.val[arg, seed]:.4f}, test {self.test[arg, seed].mean():.4f}"
          f", train fit {self.fit[arg, seed]:.4f}", file=sys.stderr)

  def seeds(self, arg: str) -> np.ndarray:
    """[seeds, queries] test nDCG@10."""
    return np.stack([self.test[arg, seed] for seed in SEEDS])


def _name(arg: str) -> str:
  return arg.removeprefix("head=").replace(",", "+")


def _comparison(label: str, head: str, linear: np.ndarray,
                other: np.ndarray) -> list:
  """The three linear-vs-non-linear records from [seeds, queries] test
  nDCG@10 of each head."""
  lin_means, other_means = linear.mean(1), other.mean(1)
  gap = other_means.mean() - lin_means.mean()
  pooled_sd = np.sqrt((lin_means.var(ddof=1) + other_means.var(ddof=1)) / 2)
  diff, se = metrics.paired_difference(other.mean(0), linear.mean(0))
  return [
      measured(SYSTEM, f"{label}{head}, beats linear: gain >= {MARGIN} and "
               f"> 2x the pooled seed sd ({pooled_sd:.4f}); {POOL} "
               "(baseline: linear)", "ndcg@10_gain_vs_linear", gap,
               lin_means.mean(), max(MARGIN, 2 * pooled_sd)),
      measured(SYSTEM, f"{label}{head}, no worse than linear: gain >= "
               f"-{MARGIN}; {POOL} (baseline: linear)",
               "ndcg@10_gain_vs_linear", gap, lin_means.mean(), -MARGIN),
      measured(SYSTEM, f"{label}{head} vs linear, paired over the 541 test "
               f"queries (per-query nDCG@10 averaged over seeds): mean "
               f"difference {diff:+.4f} +- {se:.4f} (SE); value: z = mean / "
               "SE", "paired_z_vs_linear", diff / se, None, 2.0),
  ]


def _test_set() -> data.RetrievalSet:
  return data.load("stdlib_code_search", split="test", pool="split")


def frozen(rset: data.RetrievalSet) -> list:
  """The frozen-encoder records on the test set `rset`: the trained head
  against BM25 and zero-shot search, and (as "sensitivity:") against a
  non-linear head."""
  bm25 = _ndcg(_ranked(rset, rankers.bm25_ranker("code_identifiers")(rset)),
               rset.qrels)
  zero_shot = _ndcg(_ranked(rset, rankers.maxsim_ranker(
      minilm.load(), dim=128, seed=0)(rset)), rset.qrels)
  with tempfile.TemporaryDirectory() as tmp:
    runs = _Runs(pathlib.Path(tmp), _test_features(rset),
                 _train_features())
    for arg in (LINEAR, *VARIANTS):
      runs.train(arg, SEEDS[0])
    best = max(VARIANTS, key=lambda arg: runs.val[arg, SEEDS[0]])
    for arg in (LINEAR, best):
      for seed in SEEDS[1:]:
        runs.train(arg, seed)
  linear, other = runs.seeds(LINEAR), runs.seeds(best)
  lin_mean = linear.mean()
  fit = [np.mean([runs.fit[arg, s] for s in SEEDS]) for arg in (LINEAR, best)]
  head = (f"best non-linear head on validation ({_name(best)}; val nDCG@10 "
          f"{runs.val[best, 0]:.4f} vs linear {runs.val[LINEAR, 0]:.4f}; "
          f"precondition, train fit ({FIT_QUERIES} train queries vs their "
          f"functions, mean of 3 seeds): {fit[1]:.4f} vs linear {fit[0]:.4f}"
          "), mean of 3 seeds")
  return [
      measured(SYSTEM, "linear 128-d head trained on frozen MiniLM (mean of "
               f"3 seeds) beats BM25 (code identifiers) on nDCG@10; {POOL}",
               "ndcg@10", lin_mean, bm25.mean(), bm25.mean()),
      measured(SYSTEM, f"linear head beats zero-shot MaxSim at 128-d (fixed "
               f"random projection) by >= {MARGIN} nDCG@10; {POOL} (value: "
               "gain; baseline: zero-shot)", "ndcg@10_gain_vs_zero_shot_128",
               lin_mean - zero_shot.mean(), zero_shot.mean(), MARGIN),
  ] + _comparison("sensitivity: ", head, linear, other)


def fair(rset: data.RetrievalSet) -> list:
  """The linear and the chosen non-linear head, each trained with its
  encoder from seeds 0, 1, 2 (cached), on the test set `rset`."""
  test, val = {}, {}
  for arg in (LINEAR, FAIR_HEAD):
    for seed in SEEDS:
      workdir = heads.finetuned(arg, seed)
      val[arg, seed] = json.loads((workdir / "eval.json").read_text())[
          "ndcg@10"]
      top = heads.ranker(heads.restore(workdir))(rset)
      test[arg, seed] = _ndcg(_ranked(rset, top), rset.qrels)
  per_seed = lambda arg: np.stack([test[arg, s] for s in SEEDS])
  mean_val = lambda arg: np.mean([val[arg, s] for s in SEEDS])
  head = (f"{_name(FAIR_HEAD)} head, encoder fine-tuned with it (the "
          f"paper's condition; val nDCG@10 {mean_val(FAIR_HEAD):.4f} vs "
          f"linear {mean_val(LINEAR):.4f}, test "
          f"{per_seed(FAIR_HEAD).mean():.4f} vs {per_seed(LINEAR).mean():.4f}"
          "), mean of 3 seeds")
  return _comparison("", head, per_seed(LINEAR), per_seed(FAIR_HEAD))


def check():
  rset = _test_set()
  return frozen(rset) + fair(rset)
