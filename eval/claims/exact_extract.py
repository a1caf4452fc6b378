"""Exact-extract's claims: the best span beats greedy decoding's answer.

Setting: 200 seeded `kv_qa` questions ("k1 = v1 ; ... question: kj ?",
4-8 pairs, values of 1-3 BPE tokens), answers of at most 4 tokens ended by
EOS, asked of the "text" target of `train.store.lm` (a BPE decoder
trained on stdlib docstrings, which never saw the format), then of that
target fine-tuned on 16, 64 and 1024 other seeded questions (Adam 1e-3,
batch 16, 10 epochs or 200 steps, whichever is more; see
`eval.decoding.exact_extract`).

Records: zero-shot, exact match of exact-extract at least 10 points above
greedy's; the same after 16 examples; and after 1024 examples, greedy
within 2 points of exact-extract (greedy converges with data). The
length-normalised variant and the 64-example numbers are in the claim text.
"""

from eval.claims import measured
from eval.decoding import exact_extract, kv_qa
from train.store import lm as lm_store

FINETUNE_SIZES = (16, 64, 1024)


def _gap(result: dict) -> float:
  return (result["exact_extract_exact_match"]
          - result["greedy_exact_match"])


def _summary(result: dict) -> str:
  return (f"exact-extract {result['exact_extract_exact_match']:.3f}, "
          f"normalised {result['exact_extract_normalized_exact_match']:.3f}, "
          f"greedy {result['greedy_exact_match']:.3f}")


def check():
  target = lm_store.load_target("text")
  encode = lambda text: target.tokenizer.encode(text).ids
  questions = kv_qa.make_examples(encode, exact_extract.NUM_QUESTIONS,
                                  seed=exact_extract.TEST_SEED)
  results = {0: exact_extract.evaluate(target.lm, target.tokenizer,
                                       questions)}
  for size in FINETUNE_SIZES:
    lm = exact_extract.finetune(
        target.lm, kv_qa.make_examples(encode, size, seed=100 + size))
    results[size] = exact_extract.evaluate(lm, target.tokenizer, questions)
  setting = (f"text target: val loss {target.val_loss:.3f}, greedy rep-4 "
             f"{target.greedy_rep4:.2f}")
  return [
      measured("exact_extract", "zero-shot: exact match >= greedy's + 10 "
               f"points (value: difference; baseline: greedy; "
               f"{_summary(results[0])}; {setting})",
               "exact_match_gain_zero_shot", _gap(results[0]),
               results[0]["greedy_exact_match"], 0.10),
      measured("exact_extract", "16 examples: exact match >= greedy's + 10 "
               f"points (value: difference; baseline: greedy; "
               f"{_summary(results[16])})",
               "exact_match_gain_16", _gap(results[16]),
               results[16]["greedy_exact_match"], 0.10),
      measured("exact_extract", "1024 examples: greedy within 2 points of "
               f"exact-extract (value: difference; baseline: greedy; "
               f"{_summary(results[1024])}; 64 examples: "
               f"{_summary(results[64])})",
               "exact_match_gain_1024", _gap(results[1024]),
               results[1024]["greedy_exact_match"], 0.02,
               higher_is_better=False),
  ]
