"""Exact-extract report: exact match of the best span against greedy.

    python -m eval decoding --system exact_extract

Questions come from `kv_qa` (200, seeded), answers end with EOS (the
end-of-document token the LM was trained with) and are at most
`MAX_ANSWER_LEN` tokens. Greedy decoding answers with what it generates
before EOS; exact-extract answers with the passage span of lowest S (and
of lowest S / (tokens + 1), the length-normalised variant). An answer is
right when its text equals the gold value (stripped). Zero-shot, the LM has
never seen the format; `finetune` gives the few-shot models of the
data-scaling check (Splinter's recipe: 10 epochs or 200 steps, whichever is
more), and `finetuned` keeps them in the user cache.
"""

import functools
import hashlib
import pathlib
import time

import flax
import jax
import numpy as np
import optax
from jax import numpy as jnp

from eval.decoding import kv_qa
from ops.decoding.exact_extract import best_span, greedy_answer, span_scores
from train.store import lm as lm_store
from train.tasks.lm_next_token import token_losses
from zoo import cache
from zoo.lm import special_tokens
from zoo.lm.decoder import CachedLM

MAX_ANSWER_LEN = 4
NUM_QUESTIONS = 200
TEST_SEED = 1
BATCH_SIZE = 20
FINETUNE_BATCH, FINETUNE_LR = 16, 1e-3


def _texts(tokenizer, answers) -> list[str]:
  return [tokenizer.decode(np.asarray(ids).tolist()).strip()
          for ids in answers]


def _is_span(example: kv_qa.Example, answer) -> bool:
  passage = example.tokens[example.passage_start:][:example.passage_len]
  n = len(answer)
  return n > 0 and any(np.array_equal(passage[i:i + n], answer)
                       for i in range(len(passage) - n + 1))


def _gold_span_stats(scores: np.ndarray, examples) -> dict:
  """The precondition: can the LM answer at all?

  From [B, N, L] span scores: the gold span's S (nats, the span and its
  stop), the fraction of questions where it is the best-scoring span, and
  how many spans score better than it (median). The gold value is a
  passage span by construction (`kv_qa`), so every answer occurs there.
  """
  gold = np.array([scores[row, e.answer_start, e.answer_len - 1]
                   for row, e in enumerate(examples)])
  better = np.sum(scores < gold[:, None, None], axis=(1, 2))
  return {"gold_span_nll": float(np.mean(gold)),
          "gold_span_is_best": float(np.mean(better == 0)),
          "gold_span_median_rank": float(np.median(better)) + 1}


def evaluate(lm, tokenizer, examples: list[kv_qa.Example]) -> dict:
  """Exact match of greedy decoding and of exact-extract on `examples`.

  Returns:
    A flat dict: exact-match rates, the fraction of greedy answers that
    are passage spans, the gold span's statistics (`_gold_span_stats`)
    and seconds per question (compilation excluded).
  """
  arrays = kv_qa.batch(examples)
  n = len(examples)
  # Pad the last batch with copies of the first question: one compilation.
  order = np.concatenate([np.arange(n), np.zeros((-n) % BATCH_SIZE, int)])
  batches = [{k: jnp.asarray(v[rows]) for k, v in arrays.items()}
             for rows in order.reshape(-1, BATCH_SIZE)]
  extract = functools.partial(
      span_scores, lm, max_passage_len=int(arrays["passage_len"].max()),
      max_answer_len=MAX_ANSWER_LEN, stop_id=special_tokens.EOS)
  greedy = functools.partial(greedy_answer, lm, max_answer_len=MAX_ANSWER_LEN,
                             stop_id=special_tokens.EOS)
  jax.block_until_ready((extract(**batches[0]),
                         greedy(batches[0]["prompt"],
                                batches[0]["prompt_len"])))
  start = time.perf_counter()
  scores = jax.block_until_ready([extract(**b) for b in batches])
  extract_s = time.perf_counter() - start
  start = time.perf_counter()
  decoded = jax.block_until_ready([greedy(b["prompt"], b["prompt_len"])
                                   for b in batches])
  greedy_s = time.perf_counter() - start
  scores = jnp.concatenate(scores)[:n]
  tokens = np.concatenate([np.asarray(t) for t, _ in decoded])[:n]
  answer_len = np.concatenate([np.asarray(a) for _, a in decoded])[:n]
  greedy_ids = [t[:length] for t, length in zip(tokens, answer_len)]
  gold = [e.answer for e in examples]
  exact = lambda ids: float(np.mean([
      a == g for a, g in zip(_texts(tokenizer, ids), gold)]))
  result = {"greedy_exact_match": exact(greedy_ids)}
  for name, normalized in (("", False), ("_normalized", True)):
    span = best_span(scores, length_normalized=normalized)
    result[f"exact_extract{name}_exact_match"] = exact([
        e.tokens[e.passage_start + start:][:length] for e, start, length in
        zip(examples, np.asarray(span.start), np.asarray(span.length))])
  result["greedy_answer_is_span"] = float(np.mean([
      len(ids) <= MAX_ANSWER_LEN and _is_span(e, ids)
      for e, ids in zip(examples, greedy_ids)]))
  result.update(_gold_span_stats(np.asarray(scores), examples))
  result["exact_extract_seconds_per_question"] = extract_s / n
  result["greedy_seconds_per_question"] = greedy_s / n
  return result


def finetune(lm: CachedLM, examples: list[kv_qa.Example],
             seed: int = 0) -> CachedLM:
  """The LM fine-tuned to answer `examples` (loss on answer + EOS only).

  Adam at FINETUNE_LR, batches of FINETUNE_BATCH, for 10 epochs or 200
  steps, whichever is more.
  """
  seqs = [np.concatenate([e.tokens, e.answer_tokens, [special_tokens.EOS]])
          for e in examples]
  width = max(map(len, seqs))
  tokens = np.full((len(seqs), width), special_tokens.PAD, np.int32)
  weights = np.zeros((len(seqs), width - 1), np.float32)
  for row, (e, s) in enumerate(zip(examples, seqs)):
    tokens[row, :len(s)] = s
    weights[row, len(e.tokens) - 1:len(s) - 1] = 1.0  # predicts answer, EOS
  optimizer = optax.adam(FINETUNE_LR)

  @jax.jit
  def step(params, opt_state, tokens, weights):
    def loss(params):
      nll, _, _ = token_losses(lm.module, {"params": params}, tokens)
      return jnp.sum(nll * weights) / jnp.sum(weights)
    grads = jax.grad(loss)(params)
    updates, opt_state = optimizer.update(grads, opt_state, params)
    return optax.apply_updates(params, updates), opt_state

  params, opt_state = lm.params, optimizer.init(lm.params)
  rng = np.random.default_rng(seed)
  steps = max(200, -(-10 * len(seqs) // FINETUNE_BATCH))
  for _ in range(steps):
    rows = rng.choice(len(seqs), FINETUNE_BATCH,
                      replace=len(seqs) < FINETUNE_BATCH)
    params, opt_state = step(params, opt_state, tokens[rows], weights[rows])
  return CachedLM(params, lm.module)


def finetuned(lm: CachedLM, examples: list[kv_qa.Example], seed: int,
              base_file: pathlib.Path) -> CachedLM:
  """`finetune(lm, examples, seed)`, trained once and kept in the user
  cache beside the base LM's directory.

  Args:
    lm, examples, seed: as for `finetune`.
    base_file: a file written when the base LM was trained (its params, or
      its run's eval.json); the fine-tune sits beside its directory and is
      retrained when this file is newer (the base LM was retrained).

  The cache entry is named by a digest of the examples and the recipe.
  """
  recipe = repr((FINETUNE_BATCH, FINETUNE_LR, seed,
                 [(e.tokens.tolist(), e.answer_tokens.tolist())
                  for e in examples]))
  digest = hashlib.sha256(recipe.encode()).hexdigest()[:16]
  workdir = base_file.parent.parent / f"{base_file.parent.name}_qa_{digest}"
  params_file = workdir / "params.msgpack"
  with cache.locked(workdir.parent / f".{workdir.name}.lock"):
    if (params_file.exists() and
        params_file.stat().st_mtime < base_file.stat().st_mtime):
      params_file.unlink()  # a fine-tune of an older base LM
    if not params_file.exists():
      tuned = finetune(lm, examples, seed)
      workdir.mkdir(parents=True, exist_ok=True)
      partial = params_file.with_suffix(".partial")
      partial.write_bytes(flax.serialization.to_bytes(tuned.params))
      partial.replace(params_file)  # whole or absent, even if interrupted
      return tuned
  params = flax.serialization.from_bytes(lm.params, params_file.read_bytes())
  return CachedLM(params, lm.module)


def report(target: lm_store.Target, prompts, new_tokens: int) -> dict:
  """Zero-shot exact match on `kv_qa` questions (prompts are not used)."""
  del prompts, new_tokens  # the questions are the prompts here
  examples = kv_qa.make_examples(lambda s: target.tokenizer.encode(s).ids,
                                 NUM_QUESTIONS, seed=TEST_SEED)
  return evaluate(target.lm, target.tokenizer, examples)
