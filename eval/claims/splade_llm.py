"""Mistral-SPLADE's claims on the zoo's code LM: echo helps, FLOPS sparsifies.

Protocol (`train/configs/splade_llm.py`, settings fixed from the CPU budget
before any test number): the trained 2.2M code decoder (`load_target
("code")`; it read the whole stdlib, test functions included) is fine-tuned
whole into a SPLADE encoder over its 2,048-token vocabulary on the train
split of `stdlib_code_search`: batch 16, in-batch negatives, AdamW 1e-3,
FLOPS lambda_q = lambda_d = 1e-3 with a quadratic warm-up over the first
third of the steps, seed 0; same data order in every run. Texts keep at
most 96 tokens per copy (queries 48 in training); longer code is cut (38%
of the test functions). Report: the 541 test queries vs the 541 test
functions, nDCG@10 and mean non-zero dimensions of the documents.

  - Claim (1): echo (`<bos> x <eos> <bos> x`, copy 2 pooled) vs no echo
    (`<bos> x`), `STEPS` steps each: nDCG@10 echo >= no-echo + 0.02 (the
    spec's +5 Recall@10 on synthetic data, restated as the calibrated
    smallest detectable gap on 541 queries); the paired difference +- SE is
    printed.
  - Claim (2): short no-echo runs (`SWEEP_STEPS` steps) at lambda_d in
    {0, 1e-4, 1e-3, 1e-2}: mean non-zero document dimensions strictly fall
    (value: the smallest fall between neighbours; nDCG@10 printed).

UNVERIFIED choices (`# ours:` in `zoo.retrieval.splade_llm`): the <eos> <bos>
separator, full fine-tuning instead of LoRA, temperature 1, no hard
negatives, the reserved ids' dimensions zeroed.

Measured (2026-12-06, 2 shared cores at load 2.6-11, 561 s wall): (1) FAILS:
nDCG@10 echo 0.008 vs no-echo 0.008 (-0.000 +- 0.003): both are at chance
(BM25 gets 0.58 on this pool). (2) passes: document dimensions 1665.8,
1652.3, 1616.6, 1268.2 for lambda_d 0, 1e-4, 1e-3, 1e-2 (nDCG@10 0.010-0.012).
Diagnosis: the code LM's tied-head logits are positive somewhere in a text
for most of the vocabulary, so max-pooled vectors are nearly dense (untrained,
on validation: 1,815 of 2,048 document dimensions, scores 3,073 +- 541
between a query and any function, the matching function only 44 above the
mean; nDCG@10 0.016 echo, 0.017 no-echo). At temperature 1 the first InfoNCE
is about 200, and 50 clipped steps (loss 200 -> 5.5) go to shrinking that
scale, not to matching; FLOPS at 1e-3 leaves 1,600+ dimensions. So the echo
comparison is between two encoders that do not retrieve yet and says nothing
about echo. The paper starts from Mistral-7B and trains for thousands of
steps; here a temperature (or a score scale) and a much longer run, or a
stronger FLOPS weight from the start, would be the first things to try. The
thresholds stay as the issue set them.
"""

import dataclasses
import pathlib
import tempfile

import jax
import numpy as np

from eval.claims import measured
from eval.retrieval import data
from ops import sparse
from train import config as config_lib
from train import loop
from train.configs import splade_llm as splade_config
from train.tasks import splade_llm as task
from zoo import sharding
from zoo.retrieval import metrics, rankers, splade_llm

STEPS = splade_config.STEPS
SWEEP_STEPS = 16
LAMBDAS_D = (0.0, 1e-4, 1e-3, 1e-2)


def _train(arg: str, workdir: pathlib.Path):
  """Trains `splade_llm.py:<arg>`; returns (model, params)."""
  cfg = config_lib.load_config(f"splade_llm.py:{arg}", ["mesh.data=1"])
  loop.run(cfg, workdir, devices=jax.devices()[:1])
  run, state, _ = loop.load(workdir, mesh=sharding.MeshConfig(data=1),
                            devices=jax.devices()[:1])
  # The forward pass reads no FLOPS setting: one compile serves the sweep.
  model = splade_llm.SpladeLLM(dataclasses.replace(
      run.model.cfg, lambda_q=0.0, lambda_d=0.0, flops_warmup=0))
  return model, {"params": jax.device_get(state.params)}


def _evaluate(model, params, test) -> tuple[np.ndarray, float]:
  """(per-query nDCG@10, mean non-zero dimensions of the documents)."""
  q = splade_llm.encode(model, params, *splade_llm.token_ids(
      task.tokenizer(), test.queries))
  d = splade_llm.encode(model, params, *splade_llm.token_ids(
      task.tokenizer(), test.docs))
  top = rankers.top_indices(np.asarray(sparse.sparse_scores(q, d)), 100)
  rankings = {qid: [test.doc_ids[j] for j in row]
              for qid, row in zip(test.query_ids, top)}
  ndcg = metrics.evaluate(rankings, test.qrels, ["ndcg@10"])["ndcg@10"]
  return ndcg, float((d > 0).sum(1).mean())


def check():
  test = data.load("stdlib_code_search", split="test")
  with tempfile.TemporaryDirectory() as tmp:
    root = pathlib.Path(tmp)
    echo, _ = _evaluate(*_train(f"steps={STEPS}", root / "echo"), test)
    plain, _ = _evaluate(*_train(f"echo=false,steps={STEPS}",
                                 root / "plain"), test)
    sweep = [_evaluate(*_train(f"echo=false,steps={SWEEP_STEPS},"
                               f"lambda_d={lam}", root / f"sweep_{i}"), test)
             for i, lam in enumerate(LAMBDAS_D)]
  gap, se = metrics.paired_difference(echo, plain)
  dims = [d for _, d in sweep]
  falls = min(a - b for a, b in zip(dims, dims[1:]))
  printed = "; ".join(f"lambda_d {lam:g}: {d:.1f} dims, nDCG@10 "
                      f"{n.mean():.3f}" for lam, (n, d) in zip(LAMBDAS_D,
                                                                sweep))
  return [
      measured("splade_llm", "code search, 541 test queries vs 541 test "
               f"functions, both fine-tuned {STEPS} steps from the code LM: "
               f"nDCG@10 echo >= no-echo + 0.02 (echo {echo.mean():.3f}, "
               f"no-echo {plain.mean():.3f}; echo - no-echo = {gap:+.3f} "
               f"+- {se:.3f}) (value: difference; baseline: no-echo)",
               "ndcg@10_gain", gap, plain.mean(), 0.02),
      measured("splade_llm", f"no-echo runs of {SWEEP_STEPS} steps, "
               "lambda_d in {0, 1e-4, 1e-3, 1e-2}: mean non-zero document "
               f"dimensions strictly fall ({printed}) (value: smallest fall "
               "between neighbours)", "doc_dims_min_fall", falls, None, 0.0,
               strict=True),
  ]
