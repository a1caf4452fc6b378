"""Binary PV and Disambiguated Skip-gram on the stdlib docstrings.

Corpus: `train.data.stdlib_labelled` (docstrings of the 20 largest stdlib
packages, labelled by package); `stdlib_text`'s own split (sha1 of the
source mod 20 == 0) gives the validation documents. Words: those seen at
least twice in the training documents (ours); a validation document left
without a word is dropped (the count is in the claim's text).

1. 32-bit Binary PV-DBOW (`zoo.vq.binary_pv`, 20 epochs): validation codes
   inferred with U frozen, each searched against the training codes by
   Hamming distance; precision@10 = share of the 10 found documents in the
   query's package. Baseline: 32-bit random-hyperplane LSH of TF-IDF
   vectors (same words), searched the same way. Means of 3 seeds.
2. DSG with K = 2 on every `stdlib_text` passage, with 5 pseudo-words: the
   fixed rule pairs words of >= 4 letters, in frequency order after the 100
   most frequent words, each with the next unused word whose count is
   within a factor 1.5, and merges each pair into one new token. The
   induced sense (argmax p(k | w, C)) of each occurrence is matched to the
   original word under the better of the two sense-to-word maps; agreement
   is averaged over the 5 pseudo-words and 3 seeds. Baseline: the majority
   share (always guessing the more frequent word).

Measured (2026-12-06, 2 CPU cores, 200 s): claim 1 passes (precision@10
0.392 vs LSH 0.169); claim 2 FAILS, agreement 0.503 = the majority share.
Diagnosis (seed 0): the senses collapse. For every pseudo-word each
occurrence goes to one sense with p(k | w, C) = 1.0 (the same sense for all
occurrences), so agreement is exactly the majority share. The contexts do
separate the two words: a logistic regression on the bag of context words
(same window, 5-fold) tells them apart at 0.83-0.87. So the precondition
holds and the failure is the disambiguation's training: with lam = 0.1 the
entropy term rewards sharp assignments, nothing rewards using both senses,
and the first sense ahead takes every occurrence (5 epochs, dim 50).
"""

from collections import Counter

import jax
import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer

from eval.claims import measured
from ops import hamming
from train.data import stdlib_labelled
from train.data.builders import common
from zoo.vq import binary_pv

SEEDS = (0, 1, 2)
BITS = 32
TOP = 10
PSEUDO_WORDS = 5
SKIP_MOST_FREQUENT = 100
MIN_LETTERS = 4
MAX_RATIO = 1.5


def split(docs: stdlib_labelled.LabelledDocs):
  """Boolean [N]: True for `stdlib_text`'s validation documents."""
  return np.array([common.stable_hash(s) % 20 == 0 for s in docs.sources])


def train_vocab(texts) -> dict[str, int]:
  counts = Counter(w for t in texts for w in stdlib_labelled.words(t))
  return {w: i for i, w in enumerate(sorted(w for w, c in counts.items()
                                            if c >= 2))}


def precision_at(found: np.ndarray, query_labels, db_labels) -> float:
  return float(np.mean(db_labels[found] == query_labels[:, None]))


def retrieval_data():
  """(train ids, val ids, train labels, val labels, vocab, dropped,
  (train texts, val texts)); documents left without a word are dropped."""
  docs = stdlib_labelled.load()
  val = split(docs)
  texts = np.array(docs.texts, dtype=object)
  vocab = train_vocab(texts[~val])
  out, dropped = [], 0
  for part in (~val, val):
    ids, _ = stdlib_labelled.encode(texts[part], vocab)
    keep = np.array([len(d) > 0 for d in ids])
    dropped += int((~keep).sum())
    out.append(([d for d, k in zip(ids, keep) if k], docs.labels[part][keep],
                texts[part][keep]))
  (train_ids, y_train, t_train), (val_ids, y_val, t_val) = out
  return (train_ids, val_ids, y_train, y_val, vocab, dropped,
          (t_train, t_val))


def lsh_precision(texts, labels, vocab, seed) -> float:
  tfidf = TfidfVectorizer(analyzer=stdlib_labelled.words, vocabulary=vocab)
  db = tfidf.fit_transform(texts[0])
  queries = tfidf.transform(texts[1])
  planes = np.random.default_rng(seed).normal(size=(len(vocab), BITS))
  code = lambda x: hamming.pack_bits(np.asarray(x @ planes) > 0)
  found = hamming.hamming_topk(code(queries), code(db), k=TOP)[0]
  return precision_at(np.asarray(found), labels[1], labels[0])


def pv_precision(train_ids, val_ids, labels, vocab, seed) -> float:
  key = jax.random.key(seed)
  model = binary_pv.fit(train_ids, len(vocab), binary_pv.PVConfig(bits=BITS),
                        key)
  queries = model.infer(val_ids, jax.random.fold_in(key, 1))
  found = binary_pv.hamming_search(model, queries, TOP)
  return precision_at(np.asarray(found), labels[1], labels[0])


def pseudo_word_pairs(counts: Counter) -> list[tuple[str, str]]:
  """The fixed rule's PSEUDO_WORDS pairs (see the module docstring)."""
  ranked = [w for w, _ in sorted(counts.items(), key=lambda x: (-x[1], x[0]))]
  candidates = [w for w in ranked[SKIP_MOST_FREQUENT:]
                if w.isalpha() and len(w) >= MIN_LETTERS]
  pairs, used = [], set()
  for i, a in enumerate(candidates):
    if a in used:
      continue
    for b in candidates[i + 1:]:
      if b not in used and counts[a] <= MAX_RATIO * counts[b]:
        pairs.append((a, b))
        used |= {a, b}
        break
    if len(pairs) == PSEUDO_WORDS:
      break
  return pairs


def pseudo_word_corpus(texts):
  """(docs as ids, vocab size, [(pseudo id, truth docs)], majority shares):
  truth docs hold, per token, 0/1 for the pair's first/second word, -1 for
  other tokens."""
  tokens = [stdlib_labelled.words(t) for t in texts]
  counts = Counter(w for ws in tokens for w in ws)
  pairs = pseudo_word_pairs(counts)
  merged = {w: f"<pseudo{i}>" for i, pair in enumerate(pairs) for w in pair}
  truth_of = {w: j for pair in pairs for j, w in enumerate(pair)}
  vocab = {w: i for i, w in enumerate(sorted(
      {merged.get(w, w) for w, c in counts.items() if c >= 2}))}
  docs, truth = [], []
  for ws in tokens:
    ws = [w for w in ws if counts[w] >= 2]
    if ws:
      docs.append(np.array([vocab[merged.get(w, w)] for w in ws], np.int64))
      truth.append(np.array([truth_of.get(w, -1) for w in ws]))
  shares = [max(counts[a], counts[b]) / (counts[a] + counts[b])
            for a, b in pairs]
  return docs, len(vocab), [vocab[f"<pseudo{i}>"] for i in range(len(pairs))
                            ], np.concatenate(truth), shares, pairs


def sense_agreement(params, docs, pseudo_ids, truth, window) -> list[float]:
  centres, contexts, mask = binary_pv.windows(docs, window)
  agreement = []
  for pid in pseudo_ids:
    at = centres == pid
    senses = np.asarray(jax.numpy.argmax(binary_pv.sense_probs(
        params, centres[at], contexts[at], mask[at]), -1))
    hit = np.mean(senses == truth[at])
    agreement.append(max(hit, 1 - hit))
  return agreement


def check():
  train_ids, val_ids, y_train, y_val, vocab, dropped, texts = retrieval_data()
  labels = (y_train, y_val)
  pv = np.mean([pv_precision(train_ids, val_ids, labels, vocab, s)
                for s in SEEDS])
  lsh = np.mean([lsh_precision(texts, labels, vocab, s) for s in SEEDS])
  docs, size, pseudo_ids, truth, shares, pairs = pseudo_word_corpus(
      stdlib_labelled.corpus_texts())
  cfg = binary_pv.DSGConfig(senses=2)
  agreement = np.mean([
      np.mean(sense_agreement(binary_pv.fit_dsg(docs, size, cfg,
                                                jax.random.key(s)),
                              docs, pseudo_ids, truth, cfg.window))
      for s in SEEDS])
  names = ", ".join(f"{a}/{b}" for a, b in pairs)
  return [
      measured("binary_pv", f"32-bit Binary PV-DBOW precision@10 (same "
               f"package; {len(val_ids)} validation vs {len(train_ids)} "
               f"train docs, {dropped} empty dropped) >= 32-bit LSH on "
               "TF-IDF (baseline; means of 3 seeds)",
               "precision@10", pv, lsh, lsh),
      measured("binary_pv", f"DSG K=2 sense agreement >= 0.75 on 5 "
               f"pseudo-words ({names}); baseline: majority share "
               "(means of 3 seeds)", "sense_agreement", agreement,
               float(np.mean(shares)), 0.75),
  ]
