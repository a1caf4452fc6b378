"""Exact-extract's fair setting: small LMs that can answer, from 3 seeds.

    model = load(seed=0)  # pretrained once into the user cache
    model.lm, model.heldout_text_loss, model.cloze_loss, model.greedy_rep4

The paper's zero-shot model (T5) was pretrained on text with a span
objective whose sentinel marks "a span goes here, then a stop"; its QA
template ends with that sentinel, so the model can copy a passage span and
stop although it never saw a question. The "text" target cannot (its gold
span scores 25.8 nats and is the best span for none of 200 questions): it
never saw a short answer end with EOS. This is the decoder-only analog of
the paper's condition (and of its RSS, recurring-span selection,
pretraining): a decoder pretrained from scratch on

  - text: 80-token chunks of the "text" target's training windows
    (stdlib docstrings, so the question template's words are known), and
  - recurring-span cloze documents: a `kv_qa` passage, then one of its
    keys restated with " =", its value copied, then EOS
    ("k1 = v1 ; ... kn = vn ; kj = vj<eos>"): copy a span, then stop.

It never sees " question: kj ?"; asking in that template is zero-shot.

ours: sizes and budget, chosen before the claim ran (from the CPU time a timing
run of the first choice took on the shared machine, not from any exact-match
number): DecoderConfig width 96, 3 layers, 4 heads, MLP 192 (0.42M parameters);
800 steps of batches of 16 cloze documents and 4 text chunks (80 tokens), AdamW
3e-3, 50 warmup steps, cosine decay, weight decay 0.01, clip 1 (the text
target's recipe); 8000 cloze documents per seed, drawn with seeds 10_000 + seed
(the questions use seeds 1 and 100 + size). About 5 minutes per seed on two
loaded cores. Each model prints its held-out text loss, the held-out cloze loss
(value + EOS, nats/token) and the greedy repeated-4-gram rate of 20 held-out
text prompts (32 tokens, 48 new: the context it was trained on).
"""

import dataclasses
import json
import pathlib
import time

import flax
import jax
import numpy as np
import optax
from jax import numpy as jnp

from eval.decoding import kv_qa
from ops.decoding.metrics import repeated_ngram_rate
from ops.decoding.sampling import generate
from train.config import OptimConfig
from train.state import make_optimizer
from train.store import cache_dir
from train.store import lm as lm_store
from train.tasks.lm_next_token import token_losses
from zoo import cache
from zoo.lm import special_tokens
from zoo.lm.decoder import CachedLM, DecoderConfig, build

SEEDS = (0, 1, 2)
CONFIG = DecoderConfig(vocab_size=2048, embed_dim=96, num_layers=3,
                       num_heads=4, mlp_dim=192)
OPTIM = OptimConfig(name="adamw", learning_rate=3e-3, weight_decay=0.01,
                    warmup_steps=50, schedule="cosine", grad_clip_norm=1.0)
STEPS, CLOZE_ROWS, TEXT_ROWS, WIDTH = 800, 16, 4, 80
NUM_DOCUMENTS, CORPUS_SEED = 8000, 10_000
_HELDOUT_DOCUMENTS, _HELDOUT_TEXT = 200, 64
_REP4_PROMPTS, _REP4_PROMPT_LEN, _REP4_NEW = 20, 32, 48


@dataclasses.dataclass(frozen=True)
class Model:
  """A pretrained fair-setting LM and its diagnostics."""

  seed: int
  lm: CachedLM
  params_file: pathlib.Path  # where the params are kept
  heldout_text_loss: float
  cloze_loss: float
  greedy_rep4: float
  train_seconds: float


def cloze_documents(encode, num: int, seed: int) -> list[np.ndarray]:
  """`kv_qa` passages, each followed by one key restated and its value
  copied, then EOS (the question template is dropped)."""
  question = len(encode(" question:"))
  mark = len(encode(" ?"))
  docs = []
  for e in kv_qa.make_examples(encode, num, seed=seed):
    passage_end = e.passage_start + e.passage_len
    key = e.tokens[passage_end + question:len(e.tokens) - mark]
    docs.append(np.concatenate([e.tokens[:passage_end], key, encode(" ="),
                                e.answer_tokens, [special_tokens.EOS]]))
  return docs


def _rows(docs: list[np.ndarray]) -> np.ndarray:
  """Documents right-padded with PAD to WIDTH + 1 tokens."""
  out = np.full((len(docs), WIDTH + 1), special_tokens.PAD, np.int32)
  for row, doc in enumerate(docs):
    out[row, :len(doc)] = doc[:WIDTH + 1]
  return out


def _chunks(windows: np.ndarray, num: int, rng) -> np.ndarray:
  """`num` random WIDTH + 1-token chunks of the text windows."""
  rows = rng.integers(len(windows), size=num)
  starts = rng.integers(windows.shape[1] - WIDTH, size=num)
  return np.stack([windows[r, s:s + WIDTH + 1] for r, s in zip(rows, starts)])


def _mean_loss(module, params, tokens, weights=None):
  nll, valid, _ = token_losses(module, {"params": params}, tokens)
  weights = valid if weights is None else weights * valid
  return jnp.sum(nll * weights) / jnp.maximum(jnp.sum(weights), 1)


def _pretrain(seed: int, text) -> tuple[CachedLM, np.ndarray]:
  """The trained LM and its held-out cloze rows."""
  encode = lambda s: text.tokenizer.encode(s).ids
  docs = _rows(cloze_documents(encode, NUM_DOCUMENTS + _HELDOUT_DOCUMENTS,
                               CORPUS_SEED + seed))
  train_docs, heldout_docs = docs[:NUM_DOCUMENTS], docs[NUM_DOCUMENTS:]
  windows = lm_store.split_windows(text, "train")
  module = build(CONFIG)
  params = flax.core.meta.unbox(module.init(
      jax.random.key(seed), jnp.asarray(train_docs[:1, :-1]))["params"])
  optimizer = make_optimizer(OPTIM, STEPS)

  @jax.jit
  def step(params, opt_state, tokens):
    grads = jax.grad(lambda p: _mean_loss(module, p, tokens))(params)
    updates, opt_state = optimizer.update(grads, opt_state, params)
    return optax.apply_updates(params, updates), opt_state

  rng = np.random.default_rng(seed)
  opt_state = optimizer.init(params)
  for _ in range(STEPS):
    batch = np.concatenate([
        train_docs[rng.integers(NUM_DOCUMENTS, size=CLOZE_ROWS)],
        _chunks(windows, TEXT_ROWS, rng)])
    params, opt_state = step(params, opt_state, jnp.asarray(batch))
  return CachedLM(params, module), heldout_docs


def _diagnostics(lm: CachedLM, text, heldout_docs: np.ndarray) -> dict:
  """Held-out text loss, cloze answer loss and greedy rep-4."""
  windows = lm_store.split_windows(text, "validation")[:_HELDOUT_TEXT]
  text_loss = _mean_loss(lm.module, lm.params,
                         jnp.asarray(windows[:, :WIDTH + 1]))
  # The answer and its EOS: the tokens after the cloze's last " =".
  tokens = jnp.asarray(heldout_docs)
  eq = text.tokenizer.encode(" =").ids[-1]
  last_eq = WIDTH - np.argmax((heldout_docs[:, ::-1] == eq), axis=1)
  after = np.arange(WIDTH)[None] >= last_eq[:, None]
  cloze_loss = _mean_loss(lm.module, lm.params, tokens, jnp.asarray(after))
  prompts = lm_store.heldout_prompts(text, _REP4_PROMPTS, _REP4_PROMPT_LEN)
  out = generate(lm, prompts, _REP4_NEW).tokens
  return {"heldout_text_loss": float(text_loss),
          "cloze_loss": float(cloze_loss),
          "greedy_rep4": repeated_ngram_rate(np.asarray(out), 4)}


def load(seed: int) -> Model:
  """The fair-setting LM of `seed`, pretrained once into the user cache."""
  if seed < 0:
    raise ValueError(f"kv_qa_lm.load: seed must be >= 0, got {seed}")
  workdir = cache_dir("decoding_lms") / f"kv_cloze_seed{seed}"
  params_file = workdir / "params.msgpack"
  text = lm_store.load_target("text")
  module = build(CONFIG)
  with cache.locked(workdir.parent / f".{workdir.name}.lock"):
    if not (workdir / "stats.json").exists():
      workdir.mkdir(parents=True, exist_ok=True)
      began = time.perf_counter()
      lm, heldout = _pretrain(seed, text)
      stats = _diagnostics(lm, text, heldout)
      stats["train_seconds"] = time.perf_counter() - began
      params_file.write_bytes(flax.serialization.to_bytes(lm.params))
      (workdir / "stats.json").write_text(json.dumps(stats))
  template = flax.core.meta.unbox(module.init(
      jax.random.key(0), jnp.zeros((1, 2), jnp.int32))["params"])
  params = flax.serialization.from_bytes(template, params_file.read_bytes())
  stats = json.loads((workdir / "stats.json").read_text())
  return Model(seed, CachedLM(params, module), params_file, **stats)
