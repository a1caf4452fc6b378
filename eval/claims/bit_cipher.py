"""Bit Cipher's claims: codes with no backpropagation make useful word
vectors, and a good initial embedding layer for an LM.

Setting (fixed by the issue before any run):

* Word vectors, d = 64: the concatenation mode with b = 32 bits (left and
  right context sums, `zoo.vq.bit_cipher`), counted on every passage of
  `stdlib_text` (words: lower-cased letter and digit runs, all of them);
  the PPMI-SVD baseline of the same dimension from the same counts
  (`ppmi_svd(L + L^T, 64)`); random N(0, 1) word vectors as the floor.
* Task: the `stdlib_text` docstrings labelled by top-level package (20
  largest, `train.data.stdlib_labelled`), mean-pooled word vectors,
  standardised, multinomial logistic regression (sklearn defaults, C = 1,
  up to 1000 lbfgs iterations); accuracy by stratified 5-fold CV; the mean
  over 3 seeds (fold shuffles; and the random vectors' draws).
* Claims (1) accuracy >= 0.8x PPMI-SVD's; (2) >= random's + 0.10.
* Claim (3): the draft stdlib LM (`train/configs/lm.py:size=draft`: 2
  layers, width 64, BPE ids, AdamW 3e-3, warmup 50 and cosine decay over
  its 600 steps) trained for 200 steps from its default init and from the
  same init with the token embeddings replaced by bit-cipher vectors
  (concat, b = 32, counted on its training windows, each window a
  document); the validation loss at step 200, mean of 3 seeds, must be
  lower with the cipher. Ours: the (standardised) cipher vectors are scaled
  to the default init's standard deviation, embed_dim^-0.5, so that only
  their structure differs; the head is tied, so it starts from them too.
"""

import functools

import jax
import numpy as np

from eval.claims import measured
from train import config as config_lib
from train import loop
from train.data import pipeline, sources, stdlib_labelled
from train.state import train_step
from zoo import sharding
from zoo.vq import bit_cipher

SEEDS = (0, 1, 2)
DIM, BITS = 64, 32
FOLDS = 5
LM_CONFIG, LM_STEPS = "lm.py:corpus=text,size=draft", 200


def cv_accuracy(features: np.ndarray, labels: np.ndarray, seed: int
                ) -> float:
  """Mean accuracy of standardised logistic regression, stratified 5-fold
  cross-validation shuffled by `seed`."""
  from sklearn import linear_model, model_selection, pipeline, preprocessing  # noqa: PLC0415,I001

  model = pipeline.make_pipeline(
      preprocessing.StandardScaler(),
      linear_model.LogisticRegression(max_iter=1000))
  folds = model_selection.StratifiedKFold(FOLDS, shuffle=True,
                                          random_state=seed)
  return float(np.mean(model_selection.cross_val_score(
      model, features, labels, cv=folds)))


def word_vectors() -> tuple[dict[str, np.ndarray], dict[str, int]]:
  """The three kinds of [V, 64] word vectors (random: one per seed) on the
  whole `stdlib_text` corpus, and its vocabulary."""
  ids, vocab = stdlib_labelled.encode(stdlib_labelled.corpus_texts())
  counts = bit_cipher.unigram_counts(ids, len(vocab))
  left = bit_cipher.cooccurrence(ids, len(vocab))
  vectors = {
      "bit_cipher": bit_cipher.bit_cipher_vectors(left, counts, BITS),
      "ppmi_svd": bit_cipher.ppmi_svd(left + left.T, DIM),
  }
  for seed in SEEDS:
    vectors[f"random_{seed}"] = np.random.default_rng(seed).standard_normal(
        (len(vocab), DIM)).astype(np.float32)
  return vectors, vocab


def classification_accuracy() -> dict[str, list[float]]:
  """CV accuracy of each kind of vectors, one per seed."""
  vectors, vocab = word_vectors()
  docs = stdlib_labelled.load()
  ids, _ = stdlib_labelled.encode(docs.texts, vocab)
  pooled = lambda kind, seed: bit_cipher.mean_pool(
      ids, vectors[f"random_{seed}" if kind == "random" else kind])
  return {kind: [cv_accuracy(pooled(kind, seed), docs.labels, seed)
                 for seed in SEEDS]
          for kind in ("bit_cipher", "ppmi_svd", "random")}


def lm_cipher_embedding(dataset: str, vocab_size: int, embed_dim: int
                        ) -> np.ndarray:
  """[vocab_size, embed_dim] bit-cipher vectors of the LM's token ids,
  counted on its training windows, at the default init's scale."""
  if embed_dim % 2:
    raise ValueError(f"lm_cipher_embedding: the concat mode needs an even "
                     f"embed_dim, got {embed_dim}")
  source = sources.data_source(dataset, "train")
  windows = [np.asarray(r["tokens"], np.int64)
             for r in source.__getitems__(list(range(len(source))))]
  counts = bit_cipher.unigram_counts(windows, vocab_size)
  left = bit_cipher.cooccurrence(windows, vocab_size)
  vectors = bit_cipher.bit_cipher_vectors(left, counts, embed_dim // 2)
  return vectors * embed_dim**-0.5


def _with_embedding(params, table: np.ndarray):
  """`params` with the decoder's token embedding table replaced."""
  try:
    current = params["embedding"]["embedding"]
  except KeyError:
    raise ValueError("the LM's params hold no embedding/embedding table "
                     "to replace") from None
  if current.shape != table.shape:
    raise ValueError(f"the LM's embedding is {current.shape}, the cipher "
                     f"table {table.shape}")
  new = jax.device_put(table.astype(current.dtype), current.sharding)
  return {**params, "embedding": {**params["embedding"], "embedding": new}}


def lm_val_loss(seed: int, table: np.ndarray | None) -> float:
  """Validation loss of the draft LM after LM_STEPS steps of its schedule,
  from its default init or with the embedding table replaced."""
  cfg = config_lib.load_config(f"{LM_CONFIG},seed={seed}", ["mesh.data=1"])
  mesh = sharding.make_mesh(cfg.mesh, jax.devices()[:1])
  task = config_lib.task_of(cfg)
  batches = pipeline.TrainBatches(cfg.data, task, mesh, cfg.seed)
  with jax.set_mesh(mesh):
    first = batches[0]
  run, init = loop.prepare(cfg, mesh, first)
  with run.scope():
    state = init()
    if table is not None:
      state = state.replace(params=_with_embedding(state.params, table))
    step = jax.jit(functools.partial(
        train_step, model=run.model, tx=run.tx, loss_fn=task.loss, cfg=cfg),
                   donate_argnums=0)
    for i in range(LM_STEPS):
      state, _ = step(state, batches[i])
  return run.evaluate(state)["nll"]


def records(accuracy: dict[str, list[float]],
            val_loss: dict[str, list[float]]) -> list:
  """The claim records from per-seed accuracies ("bit_cipher", "ppmi_svd",
  "random") and validation losses ("cipher", "default")."""
  acc = {kind: float(np.mean(v)) for kind, v in accuracy.items()}
  loss = {kind: float(np.mean(v)) for kind, v in val_loss.items()}
  text = (f"accuracy: bit-cipher {acc['bit_cipher']:.3f}, PPMI-SVD "
          f"{acc['ppmi_svd']:.3f}, random {acc['random']:.3f}; means of "
          f"{len(accuracy['bit_cipher'])} seeds")
  losses = (f"val loss at step {LM_STEPS}: cipher "
            f"{', '.join(f'{v:.3f}' for v in val_loss['cipher'])}; default "
            f"{', '.join(f'{v:.3f}' for v in val_loss['default'])}")
  return [
      measured("bit_cipher", "docstring package accuracy >= 0.8x PPMI-SVD's "
               f"(d=64, 5-fold CV; value: ratio; baseline: PPMI-SVD "
               f"accuracy; {text})", "accuracy_ratio",
               acc["bit_cipher"] / acc["ppmi_svd"], acc["ppmi_svd"], 0.8),
      measured("bit_cipher", "accuracy >= random vectors' + 0.10 (value: "
               "the gain; baseline: random accuracy)", "accuracy_gain",
               acc["bit_cipher"] - acc["random"], acc["random"], 0.10),
      measured("bit_cipher", "draft LM with cipher-initialised embeddings "
               f"has lower validation loss at step {LM_STEPS} (value: "
               f"cipher - default, seed means; baseline: default; "
               f"{losses})", "val_loss_change",
               loss["cipher"] - loss["default"], loss["default"], 0.0,
               higher_is_better=False, strict=True),
  ]


def check():
  """Claims (1) and (2) on the seed means of the accuracies; (3) on the
  seed means of the validation losses.

  Measured (Dec 2026, 2 cores shared at load ~20, seed 0 only finished
  for the accuracies): bit-cipher 0.567, PPMI-SVD 0.708, random 0.404
  (ratio 0.801: passes (1) by a hair; (2) passes); draft LM at step 200,
  seed 0: 5.103 with the cipher, 5.428 default ((3) passes). The logistic
  regression
  on bit-cipher features is slow to converge (838 s against 166 s for
  PPMI-SVD at that load); our guess, not checked: the left and right
  context sums of the concat mode are strongly correlated.
  """
  accuracy = classification_accuracy()
  cfg = config_lib.load_config(LM_CONFIG)
  table = lm_cipher_embedding(cfg.data.name, cfg.model.vocab_size,
                              cfg.model.embed_dim)
  return records(accuracy, {
      "default": [lm_val_loss(seed, None) for seed in SEEDS],
      "cipher": [lm_val_loss(seed, table) for seed in SEEDS]})
