"""Exact-extract's claims: the best span beats greedy decoding's answer.

Questions: 200 seeded `kv_qa` questions ("k1 = v1 ; ... question: kj ?",
4-8 pairs, values of 1-3 BPE tokens), answers of at most 4 tokens ended by
EOS, asked zero-shot, then after fine-tuning on 16 and 1024 other seeded
questions (Adam 1e-3, batch 16, 10 epochs or 200 steps, whichever is more;
see `eval.decoding.exact_extract`). The fine-tunes are cached like the
models they start from, so a second run only evaluates.

Records: zero-shot, exact match of exact-extract at least 10 points above
greedy's; the same after 16 examples; and after 1024 examples, greedy
within 2 points of exact-extract (greedy converges with data). The
length-normalised variant and the precondition (the gold span's score and
how often it is the best span) are in the claim text.

Fair setting (the records that carry the claims): the paper's zero-shot
model could copy a span and stop before it saw a question (T5's span
sentinel; RSS pretraining); its few-shot models start from there. Ours:
the three LMs of `eval.decoding.kv_qa_lm` (seeds 0, 1, 2), pretrained on
text and on recurring-span cloze documents, never on the question
template. A record passes only if the mean over the seeds does; the
spread is stated.

Sensitivity (the earlier setting, re-measured): the "text" target of
`train.store.lm` (a BPE decoder trained on stdlib docstrings, which never
saw a short answer end with EOS). Its precondition fails: zero-shot, the
gold span scores 25.8 nats and is the best span for none of the
questions. Shrunk to fit the budget: its 64-example fine-tune (formerly
in the 1024 record's text) is no longer run; its three values keep their
meaning.

Measured (2026-12-06, shared 2 cores, load 20 falling to 2): fair setting
zero-shot FAIL (mean +3.0 points, seeds 0.5 to 6.0), 16 examples pass (+11.2,
8.0 to 13.5), 1024 examples FAIL (greedy 6.3 points behind, 4.0 to 7.5).
Diagnosis: the precondition still fails in the fair setting. The cloze models
did not learn key-to-value retrieval in 800 steps: their held-out cloze loss,
1.71-1.83 nats/token, is about log 6, the cost of picking any of a passage's
values; zero-shot the gold span scores 11.8-16.1 nats (25.8 for the text
target) and is the best span for 0.5-6% of questions. Exact-extract's gain
needs the gold span to rank first among spans while greedy strays; neither
model family ranks it first often enough, and after 1024 examples both methods
sit at 9-17%, far from the convergence near the ceiling that the paper's
claim describes. A longer pretraining (or a model that learns induction
sooner) is the untested next setting.

No defect was found against the authors' code (`ocastel/exact-extract`): same
S(i, c) = sum of span NLLs + the stop's, same +inf masking, same argmin and S /
(c + 2) variant. Differences (kept: the setting's claims were filed with our
scoring): the authors score answers with SQuAD's normalisation (lower case, no
punctuation or articles) where we compare stripped text (our gold values are
lower-case words and numbers, and a span holding " ;" or "=" counts as wrong for
us, right for them only if the rest matches); their normalised variant also
counts T5's leading sentinel (c + 2 with c tokens, ours c + 2 with c + 1 tokens,
there being no sentinel); they fine-tune T5 with its own optimizer and learning
rate.
"""

import numpy as np

from eval.claims import measured
from eval.decoding import exact_extract, kv_qa, kv_qa_lm
from train.store import lm as lm_store

SIZES = (0, 16, 1024)  # fine-tuning examples; 0: zero-shot
SENSITIVITY = "sensitivity: "
_CLAIMS = {
    0: ("zero-shot: exact match >= greedy's + 10 points",
        "exact_match_gain_zero_shot", 0.10, True),
    16: ("16 examples: exact match >= greedy's + 10 points",
         "exact_match_gain_16", 0.10, True),
    1024: ("1024 examples: greedy within 2 points of exact-extract",
           "exact_match_gain_1024", 0.02, False),
}


def _gap(result: dict) -> float:
  return (result["exact_extract_exact_match"]
          - result["greedy_exact_match"])


def _summary(result: dict) -> str:
  return (f"exact-extract {result['exact_extract_exact_match']:.3f}, "
          f"normalised {result['exact_extract_normalized_exact_match']:.3f}, "
          f"greedy {result['greedy_exact_match']:.3f}; gold span "
          f"{result['gold_span_nll']:.1f} nats, best span "
          f"{result['gold_span_is_best']:.3f}")


def _results(lm, tokenizer, seed: int, base_file) -> dict:
  """{size: `exact_extract.evaluate` result} for each of SIZES; the
  fine-tunes are cached beside `base_file`'s directory."""
  encode = lambda text: tokenizer.encode(text).ids
  questions = kv_qa.make_examples(encode, exact_extract.NUM_QUESTIONS,
                                  seed=exact_extract.TEST_SEED)
  results = {}
  for size in SIZES:
    tuned = lm if size == 0 else exact_extract.finetuned(
        lm, kv_qa.make_examples(encode, size, seed=100 + size), seed,
        base_file)
    results[size] = exact_extract.evaluate(tuned, tokenizer, questions)
  return results


def _sensitivity() -> list:
  target = lm_store.load_target("text")
  results = _results(target.lm, target.tokenizer, 0,
                     target.workdir / "eval.json")
  setting = (f"text target: val loss {target.val_loss:.3f}, greedy rep-4 "
             f"{target.greedy_rep4:.2f}; 64 examples no longer run")
  records = []
  for size, (claim, metric, threshold, higher) in _CLAIMS.items():
    r = results[size]
    records.append(measured(
        "exact_extract", f"{SENSITIVITY}{claim} (value: difference; "
        f"baseline: greedy; {_summary(r)}; {setting})", metric, _gap(r),
        r["greedy_exact_match"], threshold, higher_is_better=higher))
  return records


def _fair() -> list:
  models = [kv_qa_lm.load(seed) for seed in kv_qa_lm.SEEDS]
  tokenizer = lm_store.load_target("text").tokenizer
  per_seed = [_results(m.lm, tokenizer, m.seed, m.params_file)
              for m in models]
  seeds = ",".join(str(m.seed) for m in models)
  setting = "; ".join(
      f"seed {m.seed}: held-out text loss {m.heldout_text_loss:.2f}, cloze "
      f"loss {m.cloze_loss:.3f}, greedy rep-4 {m.greedy_rep4:.2f}"
      for m in models)
  records = []
  for size, (claim, metric, threshold, higher) in _CLAIMS.items():
    gaps = [_gap(r[size]) for r in per_seed]
    greedy = float(np.mean([r[size]["greedy_exact_match"] for r in per_seed]))
    detail = " | ".join(f"seed {m.seed}: {_summary(r[size])}"
                        for m, r in zip(models, per_seed))
    records.append(measured(
        "exact_extract", f"{claim}, cloze-pretrained LMs (value: mean "
        f"difference {np.mean(gaps):.3f} over seeds {seeds}: "
        f"{min(gaps):.3f} to {max(gaps):.3f}; baseline: mean greedy; "
        f"{detail}; {setting})", metric, float(np.mean(gaps)), greedy,
        threshold, higher_is_better=higher))
  return records


def check():
  return _fair() + _sensitivity()
