"""LUD report: look-ahead decoding of the LUD fine-tune against greedy.

    python -m eval decoding --system lud

The target LM is fine-tuned once with `train/configs/lud.py` (its workdir
sits beside the target's, `<target>_lud_v<train.tasks.lud.RECIPE_VERSION>`);
the report then decodes the prompts three ways: the fine-tune with
look-ahead steps (m = 4 placeholders, beta = alpha = 0.9, the confidence
that made a token part of a unit in training), the fine-tune greedily (the
output LUD should reproduce), and the target greedily (the quality
reference). Each output is scored by its mean NLL under the target, the
paper's "no quality loss" measured against the model that was not
fine-tuned.

`ceiling_forwards_per_token` bounds what any look-ahead at this beta could
give on this model: the forwards per token if every token of the
fine-tune's greedy output that it is at least beta confident about (given
the real tokens before it) came free with the token before it. LUD rests on
an LM being confident about runs of tokens; a small LM seldom is.
"""

import dataclasses
import functools
import json
import pathlib
import shutil

import jax
import numpy as np
from jax import numpy as jnp

from eval.decoding.timing import timed
from ops.decoding.lud import lookahead_generate
from ops.decoding.metrics import continuation_nll, repeated_ngram_rate
from ops.decoding.sampling import generate
from ops.vocab import vocab_reduce
from train import config as config_lib
from train import loop, store
from train.store import lm as lm_store
from train.tasks import lud as lud_task
from zoo.lm import special_tokens
from zoo.lm.decoder import CachedLM

LOOKAHEAD = lud_task.MAX_UNIT_LEN - 1
BETA = lud_task.ALPHA


def finetune_workdir(target: lm_store.Target) -> pathlib.Path:
  return target.workdir.parent / (
      f"{target.workdir.name}_lud_v{lud_task.RECIPE_VERSION}")


def finetuned(target: lm_store.Target) -> tuple[CachedLM, float]:
  """The target's LUD fine-tune and its held-out NLL.

  Trained on first use, and again when the target was retrained since.
  """
  workdir = finetune_workdir(target)
  done = workdir / "eval.json"
  if done.exists() and done.stat().st_mtime < (
      target.workdir / "eval.json").stat().st_mtime:
    shutil.rmtree(workdir)  # a stale fine-tune

  def config():
    smoke = target.workdir == lm_store.workdir_for(target.name, smoke=True,
                                                   seed=target.seed)
    cfg = config_lib.load_config(f"lud.py:seed={target.seed}" +
                                 (",smoke" if smoke else ""))
    # The target's own model and data, whichever target it is.
    return dataclasses.replace(
        cfg, model=target.lm.module.config, init_from=str(target.workdir),
        data=dataclasses.replace(cfg.data, name=target.dataset))

  store.run_once(config, workdir, f"the LUD fine-tune of {target.name!r}")
  run, state, _ = loop.load(workdir, devices=jax.devices()[:1])
  val_nll = json.loads(done.read_text())["nll"]
  return CachedLM(jax.device_get(state.params), run.model), val_nll


@jax.jit
def greedy_confidence(lm, prompts, greedy) -> jax.Array:
  """[B, T] lm's confidence (probability of its argmax) at each token of
  its greedy output `greedy` [B, T], given the real tokens before it."""
  tokens = jnp.concatenate([prompts, greedy], axis=1)
  logits = lm(tokens[:, :-1])[:, prompts.shape[1] - 1:]
  return vocab_reduce(logits).confidence


def ceiling_forwards_per_token(confidence, beta,
                               max_unit_len: int) -> jax.Array:
  """[B] forwards per token of a perfect look-ahead, on a greedy output.

  Every token that the model predicts with `confidence` [B, T] >= beta
  (from the real tokens before it) is decided in the same forward as the
  token before it, in units of at most `max_unit_len`: the best any
  look-ahead at this beta can do on this model.
  """
  offsets = lud_task.run_offsets(confidence >= beta, max_unit_len)
  return jnp.mean(offsets == 0, axis=1)


def _common_prefix(a, b) -> np.ndarray:
  """[B] length of the common prefix of rows of a and b [B, T]."""
  differs = np.asarray(a) != np.asarray(b)
  return np.where(differs.any(1), differs.argmax(1), differs.shape[1])


def report(target: lm_store.Target, prompts, new_tokens: int) -> dict:
  """Look-ahead decoding of the LUD fine-tune beside greedy decoding.

  Args:
    target: the target LM (its LUD fine-tune is trained on first use).
    prompts: [B, P] int32 held-out prompts.
    new_tokens: T.

  Returns:
    Flat metrics: forwards per token, tokens per second, agreement with the
    fine-tune's greedy output, NLLs under the target, and repetition rates.
  """
  lm, finetuned_val_nll = finetuned(target)
  prompts = jnp.asarray(prompts, jnp.int32)
  lud_generate = functools.partial(
      lookahead_generate, placeholder=special_tokens.MASK,
      lookahead=LOOKAHEAD, beta=BETA)
  lud, lud_s = timed(lud_generate, lm, prompts, new_tokens)
  greedy, greedy_s = timed(generate, lm, prompts, new_tokens)
  base = generate(target.lm, prompts, new_tokens).tokens
  # The precondition, on the model that was not fine-tuned: how often it is
  # beta-sure of its own next greedy token, and what that would allow.
  base_confidence = greedy_confidence(target.lm, prompts, base)
  nll = {name: float(jnp.mean(continuation_nll(target.lm, prompts, out)))
         for name, out in (("lud", lud.tokens), ("greedy", greedy.tokens),
                           ("target_greedy", base))}
  matching = _common_prefix(lud.tokens, greedy.tokens)
  forwards = np.asarray(lud.row_forward_calls) / new_tokens
  return {
      "finetuned_val_loss": finetuned_val_nll,
      "target_forwards_per_token": float(np.mean(forwards)),
      "batch_forwards_per_token": float(lud.forward_calls) / new_tokens,
      "ceiling_forwards_per_token": float(jnp.mean(ceiling_forwards_per_token(
          greedy_confidence(lm, prompts, greedy.tokens), BETA,
          LOOKAHEAD + 1))),
      "target_confident_fraction": float(jnp.mean(base_confidence >= BETA)),
      "target_ceiling_forwards_per_token": float(jnp.mean(
          ceiling_forwards_per_token(base_confidence, BETA, LOOKAHEAD + 1))),
      "mean_accepted_length": float(np.mean(1 / forwards)),
      "tokens_per_second": prompts.shape[0] * new_tokens / lud_s,
      "greedy_tokens_per_second": prompts.shape[0] * new_tokens / greedy_s,
      "exact_match_rate": float(np.mean(matching == new_tokens)),
      "matching_prefix_fraction": float(np.mean(matching)) / new_tokens,
      "equals_greedy": bool(np.all(matching == new_tokens)),
      "nll_lud": nll["lud"],
      "nll_finetuned_greedy": nll["greedy"],
      "nll_target_greedy": nll["target_greedy"],
      "nll_ratio_lud_to_target_greedy": nll["lud"] / nll["target_greedy"],
      "rep4_lud": repeated_ngram_rate(np.asarray(lud.tokens), 4),
      "rep4_finetuned_greedy": repeated_ngram_rate(
          np.asarray(greedy.tokens), 4),
  }
