"""FTP's claims against a GPT with the same encoder, at toy scale.

Setting (fixed by the issue before any run; train/configs/ftp.py): the
`stdlib_text_bpe` windows read as windows of 128 (each stored window of
256 as two); a 4-layer width-128 causal encoder in both; FTP with N = 4,
P = 4, g = 0.8, 16 positions per window; same steps, batch, optimizer and
data order, seed 0. Both models read the stdlib docstrings they are
probed on. Claims:

1. FTP's next-token loss (its first prediction, every position of the
   validation windows) <= 1.05x the GPT's (matched perplexity);
2. mean cosine of adjacent top-layer states (the encoder's final-normed
   states, validation windows) >= the GPT's + 0.1 (smoother states);
3. a mean-pooled logistic probe on `stdlib_docstring_package` (16 stdlib
   packages; docstrings cut to 128 tokens, BOS first; scikit-learn's
   LogisticRegression on standardised features, fit on train, scored on
   test): FTP's accuracy > the GPT's.

Measured (2026-12-06, 2 CPU cores shared, load 6-14; 952 s): next-token
NLL FTP 5.593 vs GPT 4.899 (1.14x): FAIL; adjacent-state cosine 0.798 vs
0.415: pass; probe accuracy 0.427 vs 0.469: FAIL. Diagnosis (untested
beyond these numbers): at equal steps FTP's next token gets a small share
of the training signal: it is scored at 16 of the 128 positions of a
window (GPT: all 128), with weight 1 / (1 + g + g^2 + g^3) = 0.34 of the
loss, about 23x fewer next-token gradient terms; the paper's matched
perplexity comes from long training where this no longer binds. The
probe gap may follow from the same undertraining (its smoother states
have not yet organised by topic); one seed, no noise estimate.
"""

import jax
import numpy as np
import optax
from jax import numpy as jnp
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from eval.claims import in_memory, measured
from train import config as config_lib
from train.data import sources
from train.store import lm as lm_store
from zoo.lm import special_tokens

WINDOW = 128
PROBE_TOKENS = 128
CHUNK = 64  # sequences per forward pass


def windows(split: str) -> np.ndarray:
  """[2 N, WINDOW + 1]: each stored window of 2 WINDOW + 1 as two."""
  source = sources.data_source("stdlib_text_bpe", split)
  rows = np.stack([np.asarray(r["tokens"], np.int32) for r in
                   source.__getitems__(list(range(len(source))))])
  return np.concatenate([rows[:, :WINDOW + 1], rows[:, WINDOW:]])


def _states_fn(model, variables):
  return jax.jit(lambda t: model.apply(variables, t, method="states"))


def next_token_nll(model, variables, tokens: np.ndarray) -> float:
  apply = jax.jit(model.apply)
  total = []
  for i in range(0, len(tokens), CHUNK):
    batch = tokens[i:i + CHUNK]
    logits = apply(variables, batch[:, :-1])
    total.append(np.asarray(optax.softmax_cross_entropy_with_integer_labels(
        logits, batch[:, 1:])))
  return float(np.concatenate(total).mean())


def adjacent_cosine(model, variables, tokens: np.ndarray) -> float:
  states_fn = _states_fn(model, variables)
  cosines = []
  for i in range(0, len(tokens), CHUNK):
    s = states_fn(tokens[i:i + CHUNK, :-1])
    s = s / jnp.linalg.norm(s, axis=-1, keepdims=True)
    cosines.append(np.asarray(jnp.sum(s[:, 1:] * s[:, :-1], -1)))
  return float(np.concatenate(cosines).mean())


def probe_data():
  """{split: (tokens [N, PROBE_TOKENS], mask, labels)}."""
  tokenizer = lm_store.corpus_tokenizer("stdlib_text_bpe")
  out = {}
  for split in ("train", "test"):
    source = sources.data_source("stdlib_docstring_package", split)
    rows = source.__getitems__(list(range(len(source))))
    texts = [r["text"].decode() if isinstance(r["text"], bytes)
             else r["text"] for r in rows]
    tokens = np.full((len(rows), PROBE_TOKENS), special_tokens.PAD,
                     np.int32)
    for j, encoding in enumerate(tokenizer.encode_batch(texts)):
      ids = [special_tokens.BOS, *encoding.ids][:PROBE_TOKENS]
      tokens[j, :len(ids)] = ids
    labels = np.asarray([int(r["label"]) for r in rows])
    out[split] = (tokens, tokens != special_tokens.PAD, labels)
  return out


def pooled_probe_accuracy(states, data) -> float:
  """Test accuracy of a logistic probe (standardised features) on the
  masked mean of `states(tokens [C, T], mask [C, T]) -> [C, T, E]`, over
  `probe_data()`'s splits, CHUNK texts per call."""
  def pooled(tokens, mask):
    parts = []
    for i in range(0, len(tokens), CHUNK):
      m = mask[i:i + CHUNK, :, None]
      s = np.asarray(states(tokens[i:i + CHUNK], mask[i:i + CHUNK]))
      parts.append((s * m).sum(1) / m.sum(1))
    return np.concatenate(parts)
  (xt, mt, yt), (xs, ms, ys) = data["train"], data["test"]
  probe = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
  probe.fit(pooled(xt, mt), yt)
  return float(probe.score(pooled(xs, ms), ys))


def probe_accuracy(model, variables, data) -> float:
  """`pooled_probe_accuracy` of the model's states. Padding is on the
  right of a causal encoder, so it never reaches a real state."""
  states_fn = _states_fn(model, variables)
  return pooled_probe_accuracy(lambda tokens, mask: states_fn(tokens), data)


def check():
  train, validation = windows("train"), windows("validation")
  probe = probe_data()
  results = {}
  for flag in ("ftp", "gpt"):
    cfg = config_lib.load_config(f"ftp.py:model={flag}")
    model, variables = in_memory.train(cfg, config_lib.task_of(cfg),
                                       {"tokens": train})
    results[flag] = {
        "nll": next_token_nll(model, variables, validation),
        "cosine": adjacent_cosine(model, variables, validation),
        "probe": probe_accuracy(model, variables, probe)}
  ftp, gpt = results["ftp"], results["gpt"]
  steps = config_lib.load_config("ftp.py").steps
  return [
      measured("ftp", f"next-token loss <= 1.05x the GPT's (same 4-layer "
               f"encoder, {steps} steps, validation windows of {WINDOW})",
               "next_token_nll", ftp["nll"], gpt["nll"], 1.05 * gpt["nll"],
               higher_is_better=False),
      measured("ftp", "mean cosine of adjacent top-layer states >= the "
               "GPT's + 0.1", "adjacent_state_cosine", ftp["cosine"],
               gpt["cosine"], gpt["cosine"] + 0.1),
      measured("ftp", "mean-pooled logistic probe on stdlib_docstring_"
               "package (16 packages) beats the GPT's", "probe_accuracy",
               ftp["probe"], gpt["probe"], gpt["probe"], strict=True),
  ]
