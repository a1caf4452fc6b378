"""Token Recycling report: tokens per target forward, against prompt lookup.

    python -m eval decoding --system token_recycling

Each prompt is decoded alone (batch 1, as the paper measures), in order:
Token Recycling with 16-node (depth 4), 64- and 80-node (depth 6) trees and
the adjacency matrix kept from prompt to prompt (hot), the 64-node tree
from a zero matrix for every prompt (cold), and prompt lookup (3-gram
match, 8 drafted tokens). `*_tokens_per_forward` counts every target
forward, the prefill included (greedy: 1.0); `*_mean_accepted_length` is
the mean number of tokens a tree forward appends (bonus included);
`*_equals_greedy` is the fraction of prompts whose output is exactly greedy
decoding's.
"""

import time
from typing import NamedTuple

import jax
import numpy as np
from jax import numpy as jnp

from eval.decoding.timing import each_prompt
from ops.decoding.prompt_lookup import PromptLookup
from ops.decoding.sampling import generate
from ops.decoding.token_recycling import TokenRecycling, init_adjacency
from ops.decoding.tree_decode import tree_decode
from train.store import lm as lm_store

PROMPT_LOOKUP = PromptLookup(ngram=3, num_draft=8)
TREES = {"tr16": TokenRecycling(num_nodes=16, max_depth=4),
         "tr64": TokenRecycling(num_nodes=64, max_depth=6),
         "tr80": TokenRecycling(num_nodes=80, max_depth=6)}


class Run(NamedTuple):
  """A method's outputs on every prompt.

  Attributes:
    tokens: [num, N] new tokens.
    step_tokens: [num, N] tokens appended per forward (see TreeDecoding).
    seconds: wall time for all prompts, compilation excluded.
  """

  tokens: np.ndarray
  step_tokens: np.ndarray
  seconds: float


def run_drafter(lm, prompts, new_tokens: int, drafter, state, *,
                hot: bool = True) -> Run:
  """Decodes each prompt alone, in order.

  Args:
    lm: the target.
    prompts: [num, P] int32.
    new_tokens: N.
    drafter: a `tree_decode` drafter.
    state: its initial state.
    hot: carry the state from prompt to prompt (else restart from `state`).
  """
  prompts = jnp.asarray(prompts, jnp.int32)
  jax.block_until_ready(  # compiles
      tree_decode(lm, prompts[:1], new_tokens, drafter, state))
  initial, outputs = state, []
  start = time.perf_counter()
  for prompt in prompts:
    out = tree_decode(lm, prompt[None], new_tokens, drafter,
                      state if hot else initial)
    state = out.state
    outputs.append((out.tokens, out.step_tokens))
  outputs = jax.block_until_ready(outputs)
  seconds = time.perf_counter() - start
  return Run(np.concatenate([np.asarray(t) for t, _ in outputs]),
             np.concatenate([np.asarray(s) for _, s in outputs]), seconds)


def run_greedy(lm, prompts, new_tokens: int) -> Run:
  """Plain greedy decoding, prompt by prompt (one forward per token)."""
  tokens, seconds = each_prompt(
      lambda p: generate(lm, p, new_tokens).tokens, prompts)
  tokens = np.concatenate([np.asarray(t) for t in tokens])
  return Run(tokens, np.ones_like(tokens), seconds)


def summary(name: str, run: Run, greedy: Run) -> dict:
  """Flat metrics of one method, named `<name>_<metric>`."""
  new_tokens = run.tokens.size
  tree_steps = run.step_tokens[:, 1:]
  return {
      f"{name}_tokens_per_forward": new_tokens / np.count_nonzero(
          run.step_tokens),
      f"{name}_mean_accepted_length": float(
          tree_steps[tree_steps > 0].mean()) if tree_steps.any() else 0.0,
      f"{name}_equals_greedy": float(np.mean(
          (run.tokens == greedy.tokens).all(axis=1))),
      f"{name}_tokens_per_second": new_tokens / run.seconds,
  }


def report(target: lm_store.Target, prompts, new_tokens: int) -> dict:
  """Token Recycling (hot and cold) and prompt lookup beside greedy.

  Args:
    target: the target LM.
    prompts: [num, P] int32 held-out prompts.
    new_tokens: N.

  Returns:
    Flat metrics, `<method>_<metric>` for methods tr16, tr64, tr80 (hot),
    tr64_cold and prompt_lookup, plus greedy_tokens_per_second.
  """
  lm = target.lm
  zeros = init_adjacency(lm.vocab_size)
  greedy = run_greedy(lm, prompts, new_tokens)
  runs = {name: run_drafter(lm, prompts, new_tokens, drafter, zeros)
          for name, drafter in TREES.items()}
  runs["tr64_cold"] = run_drafter(lm, prompts, new_tokens, TREES["tr64"],
                                  zeros, hot=False)
  runs["prompt_lookup"] = run_drafter(lm, prompts, new_tokens,
                                      PROMPT_LOOKUP, ())
  result = {"greedy_tokens_per_second": greedy.tokens.size / greedy.seconds}
  for name, run in runs.items():
    result.update(summary(name, run, greedy))
  return result
