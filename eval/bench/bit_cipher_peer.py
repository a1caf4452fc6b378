"""Bit Cipher's build time beside gensim's Word2Vec and PPMI-SVD.

    python -m eval.bench.bit_cipher_peer [--repeats 3] [--accuracy]
        [--json out.json]

All three build 64-dimensional vectors for every word of `stdlib_text`
(the claim's corpus and vocabulary, `eval/claims/bit_cipher.py`), from the
tokenized documents (tokenizing is not timed):

* bit-cipher: unigram counts, the +-5 window counts, the cipher and the
  concatenated context sums (b = 32);
* PPMI-SVD: the same window counts, then PPMI and a truncated SVD;
* gensim Word2Vec: skip-gram with negative sampling (gensim's defaults
  otherwise: 5 epochs, 5 negatives), window 5, min_count 1, 2 worker
  threads, seed 0.

Median wall time of `--repeats` builds each. `--accuracy` also scores the
Word2Vec vectors on the claim's docstring task (one seed of its 5-fold CV).
Needs gensim (the `compare` extra).
"""

import argparse
import json
import statistics
import time

import numpy as np

from eval.claims import bit_cipher as claim
from train.data import stdlib_labelled
from zoo.vq import bit_cipher


def build_bit_cipher(ids, vocab_size):
  counts = bit_cipher.unigram_counts(ids, vocab_size)
  left = bit_cipher.cooccurrence(ids, vocab_size)
  return bit_cipher.bit_cipher_vectors(left, counts, claim.BITS)


def build_ppmi_svd(ids, vocab_size):
  left = bit_cipher.cooccurrence(ids, vocab_size)
  return bit_cipher.ppmi_svd(left + left.T, claim.DIM)


def build_word2vec(sentences, vocab: dict[str, int]) -> np.ndarray:
  from gensim.models import Word2Vec  # noqa: PLC0415  (optional dependency)

  model = Word2Vec(sentences, vector_size=claim.DIM, window=5, min_count=1,
                   sg=1, workers=2, seed=0)
  vectors = np.zeros((len(vocab), claim.DIM), np.float32)
  for word, i in vocab.items():
    vectors[i] = model.wv[word]
  return vectors


def _median_seconds(build, repeats: int):
  times, out = [], None
  for _ in range(repeats):
    start = time.perf_counter()
    out = build()
    times.append(time.perf_counter() - start)
  return statistics.median(times), out


def main(argv=None) -> int:
  p = argparse.ArgumentParser(description=__doc__)
  p.add_argument("--repeats", type=int, default=3)
  p.add_argument("--accuracy", action="store_true")
  p.add_argument("--json", default=None, help="also write results here")
  args = p.parse_args(argv)
  texts = stdlib_labelled.corpus_texts()
  ids, vocab = stdlib_labelled.encode(texts)
  sentences = [ws for ws in map(stdlib_labelled.words, texts) if ws]
  builds = {
      "bit-cipher (zoo, numpy/scipy)": lambda: build_bit_cipher(
          ids, len(vocab)),
      "PPMI-SVD (zoo, scipy)": lambda: build_ppmi_svd(ids, len(vocab)),
      "Word2Vec SGNS (gensim, 2 threads)": lambda: build_word2vec(
          sentences, vocab),
  }
  out = {"words": len(vocab), "tokens": int(sum(len(d) for d in ids)),
         "seconds": {}}
  w2v = None
  for name, build in builds.items():
    out["seconds"][name], vectors = _median_seconds(build, args.repeats)
    print(f"{name:<40} {out['seconds'][name]:8.2f} s")
    if name.startswith("Word2Vec"):
      w2v = vectors
  if args.accuracy:
    docs = stdlib_labelled.load()
    doc_ids, _ = stdlib_labelled.encode(docs.texts, vocab)
    out["word2vec_accuracy_seed0"] = claim.cv_accuracy(
        bit_cipher.mean_pool(doc_ids, w2v), docs.labels, 0)
    print("Word2Vec docstring accuracy (seed 0):",
          out["word2vec_accuracy_seed0"])
  if args.json:
    with open(args.json, "w") as f:
      json.dump(out, f, indent=2)
  return 0


if __name__ == "__main__":
  raise SystemExit(main())
