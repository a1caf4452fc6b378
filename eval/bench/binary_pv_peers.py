"""Binary PV against its CPU peers: faiss Hamming search, gensim Doc2Vec.

    python -m eval.bench.binary_pv_peers [--threads 2] [--skip-doc2vec]

1. Search: `ops.hamming.hamming_topk` (jitted XLA popcount) against faiss
   `IndexBinaryFlat`, 32-bit codes, k = 10, queries/s for 1,000 queries in
   one batch (median of 5 after a warm-up) on random codes, at database
   sizes 4,096 (the claim's) and 100,000. Both return the same distances.
2. Documents: the claim's corpus (`eval.claims.binary_pv`): our 32-bit
   Binary PV-DBOW (20 epochs) against gensim `Doc2Vec` (PV-DBOW, dm = 0,
   32 dims, 5 negatives, 20 epochs, the claim's vocabulary), training and
   inference time and precision@10 of the validation documents (Doc2Vec:
   cosine on its real vectors, and Hamming on their signs).
Prints markdown tables.
"""

import argparse
import time

import jax
import numpy as np

from eval.bench.harness import median_ms
from ops import hamming

BITS, TOP, QUERIES = 32, 10, 1_000


def _median_s(fn) -> float:
  """Median seconds of fn() over 5 runs after one warm-up."""
  return median_ms(fn, [()], warmup=1, runs=5) / 1e3


def search(threads: int) -> list[str]:
  import faiss  # noqa: PLC0415 (an optional peer)

  faiss.omp_set_num_threads(threads)
  rng = np.random.default_rng(0)
  rows = ["| database | ours hamming_topk q/s | faiss IndexBinaryFlat q/s "
          "| same distances |", "|---|---|---|---|"]
  for n in (4_096, 100_000):
    db = np.asarray(hamming.pack_bits(rng.integers(0, 2, (n, BITS))))
    q = np.asarray(hamming.pack_bits(rng.integers(0, 2, (QUERIES, BITS))))
    index = faiss.IndexBinaryFlat(BITS)
    index.add(db.view(np.uint8))
    ours, theirs = _searches(q, db, index)
    same = np.array_equal(np.asarray(ours()[1]), theirs()[0])
    rows.append(f"| {n:,} | {QUERIES / _median_s(ours):,.0f} | "
                f"{QUERIES / _median_s(theirs):,.0f} | {same} |")
  return rows


def _searches(q, db, index):
  """The two searches of packed queries q against db, as thunks."""
  ours = lambda: jax.block_until_ready(hamming.hamming_topk(q, db, k=TOP))
  return ours, lambda: index.search(q.view(np.uint8), TOP)


def documents(threads: int) -> list[str]:
  from gensim.models.doc2vec import Doc2Vec, TaggedDocument  # noqa: PLC0415

  from eval.claims import binary_pv as claim  # noqa: PLC0415
  from zoo.vq import binary_pv  # noqa: PLC0415

  train_ids, val_ids, y_train, y_val, vocab, _, _ = claim.retrieval_data()
  words = {i: w for w, i in vocab.items()}
  as_words = lambda docs: [[words[i] for i in d] for d in docs]
  rows = ["| model | train s | infer s (validation) | precision@10 |",
          "|---|---|---|---|"]

  start = time.perf_counter()
  key = jax.random.key(0)
  model = binary_pv.fit(train_ids, len(vocab),
                        binary_pv.PVConfig(bits=BITS), key)
  jax.block_until_ready(model.docs)
  fit_s = time.perf_counter() - start
  start = time.perf_counter()
  queries = jax.block_until_ready(model.infer(val_ids,
                                              jax.random.fold_in(key, 1)))
  infer_s = time.perf_counter() - start
  found = np.asarray(binary_pv.hamming_search(model, queries, TOP))
  rows.append(f"| ours Binary PV-DBOW, 32 bits, Hamming | {fit_s:.1f} | "
              f"{infer_s:.1f} | "
              f"{claim.precision_at(found, y_val, y_train):.3f} |")

  start = time.perf_counter()
  d2v = Doc2Vec([TaggedDocument(d, [i]) for i, d in
                 enumerate(as_words(train_ids))], dm=0, vector_size=BITS,
                negative=5, hs=0, min_count=1, epochs=20, workers=threads,
                seed=0)
  fit_s = time.perf_counter() - start
  start = time.perf_counter()
  inferred = np.stack([d2v.infer_vector(d) for d in as_words(val_ids)])
  infer_s = time.perf_counter() - start
  db = np.stack([d2v.dv[i] for i in range(len(train_ids))])
  unit = lambda v: v / np.maximum(np.linalg.norm(v, axis=1, keepdims=True),
                                  1e-12)
  cosine = np.argsort(-unit(inferred) @ unit(db).T, axis=1)[:, :TOP]
  signs = np.asarray(hamming.hamming_topk(hamming.pack_bits(inferred > 0),
                                          hamming.pack_bits(db > 0),
                                          k=TOP)[0])
  for label, found in (("cosine, real 32-d", cosine),
                       ("Hamming on signs, 32 bits", signs)):
    rows.append(f"| gensim Doc2Vec PV-DBOW, {label} | {fit_s:.1f} | "
                f"{infer_s:.1f} | "
                f"{claim.precision_at(found, y_val, y_train):.3f} |")
  return rows


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--threads", type=int, default=2)
  parser.add_argument("--skip-doc2vec", action="store_true")
  args = parser.parse_args(argv)
  print("\n".join(search(args.threads)))
  if not args.skip_doc2vec:
    print()
    print("\n".join(documents(args.threads)))


if __name__ == "__main__":
  main()
