"""Superposed Decoding report: k drafts from one pass against k samples.

    python -m eval decoding --system superposed

The n-gram model is counted from the target's own training tokens (orders
2..6). Superposed Decoding (k = 3, top 9 tokens, temperature 0.06, alpha =
0.54, the shipped settings) decodes every prompt once; the baselines are
three separate nucleus runs (p = 0.9, temperature 1), the same three as one
run of batch 3B, and one greedy run. Every draft and sample is scored by its
mean per-token NLL under the target; best-of-3 is the lowest of a prompt's
three. "draft 1 == greedy" is the fraction of prompts whose best draft is
the greedy continuation (and the prefix fraction, how much of it agrees
before the first difference): superposition assumes the first layers are
nearly linear in the input embedding, which a small model may not honour,
and beam bookkeeping and n-gram smoothing move drafts off greedy too.
"""

import jax
import numpy as np
from jax import numpy as jnp

from eval.decoding.timing import clocked
from ops.decoding import ngram
from ops.decoding.metrics import (
  continuation_nll,
  mean_distinct_n,
  repeated_ngram_rate,
)
from ops.decoding.sampling import generate
from ops.decoding.superposed import superposed_decode
from train.store import lm as lm_store

NUM_DRAFTS = 3
TOP_P = 0.9


def _nll(lm, prompts, drafts) -> np.ndarray:
  """[B, k] mean NLL of drafts [B, k, T] after prompts [B, P]."""
  b, k, t = drafts.shape
  nll = continuation_nll(lm, jnp.repeat(prompts, k, axis=0),
                         drafts.reshape(b * k, t))
  return np.asarray(nll).reshape(b, k)


def report(target: lm_store.Target, prompts, new_tokens: int) -> dict:
  """Superposed Decoding beside nucleus sampling and greedy decoding.

  Args:
    target: the target LM.
    prompts: [B, P] int32 held-out prompts.
    new_tokens: T.

  Returns:
    A flat dict of floats and bools.
  """
  lm, t = target.lm, new_tokens
  prompts = jnp.asarray(prompts)
  table = ngram.build_ngram_table(lm_store.train_tokens(target), lm.vocab_size)
  keys = jax.random.split(jax.random.key(0), NUM_DRAFTS)

  def nucleus_runs():
    return [generate(lm, prompts, t, key, temperature=1.0, top_p=TOP_P)
            for key in keys]

  def nucleus_batched():
    return generate(lm, jnp.tile(prompts, (NUM_DRAFTS, 1)), t, keys[0],
                    temperature=1.0, top_p=TOP_P)

  spd, spd_s, spd_cpu = clocked(superposed_decode, lm, prompts, t, table,
                                 num_drafts=NUM_DRAFTS)
  samples, nucleus_s, nucleus_cpu = clocked(nucleus_runs)
  _, batched_s, batched_cpu = clocked(nucleus_batched)
  greedy, greedy_s, greedy_cpu = clocked(generate, lm, prompts, t)
  samples = jnp.stack([s.tokens for s in samples], axis=1)  # [B, k, T]
  spd_nll = _nll(lm, prompts, spd.tokens)
  nucleus_nll = _nll(lm, prompts, samples)
  agrees = np.asarray(spd.tokens[:, 0] == greedy.tokens)  # [B, T]
  return {
      "tokens_per_second": NUM_DRAFTS * spd.tokens[:, 0].size / spd_s,
      "target_forwards_per_token": int(spd.forward_calls) / t,
      "spd_seconds": spd_s,
      "nucleus_3_runs_seconds": nucleus_s,
      "nucleus_batched_seconds": batched_s,
      "greedy_seconds": greedy_s,
      "speedup_vs_3_nucleus_runs": nucleus_s / spd_s,
      "speedup_vs_batched_nucleus": batched_s / spd_s,
      "speedup_vs_3_greedy_runs": NUM_DRAFTS * greedy_s / spd_s,
      "spd_cost_in_greedy_runs": spd_s / greedy_s,
      "spd_cpu_seconds": spd_cpu,
      "cpu_speedup_vs_3_nucleus_runs": nucleus_cpu / spd_cpu,
      "cpu_speedup_vs_batched_nucleus": batched_cpu / spd_cpu,
      "cpu_speedup_vs_3_greedy_runs": NUM_DRAFTS * greedy_cpu / spd_cpu,
      "spd_mean_nll": float(spd_nll.mean()),
      "spd_best_of_3_nll": float(spd_nll.min(1).mean()),
      "nucleus_mean_nll": float(nucleus_nll.mean()),
      "nucleus_best_of_3_nll": float(nucleus_nll.min(1).mean()),
      "greedy_nll": float(_nll(lm, prompts, greedy.tokens[:, None]).mean()),
      "draft1_equals_greedy": float(np.mean(agrees.all(axis=1))),
      "draft1_greedy_prefix_fraction": float(np.mean(
          np.cumprod(agrees, axis=1).sum(axis=1)) / t),
      "spd_draft1_rep4": repeated_ngram_rate(spd.tokens[:, 0], 4),
      "spd_distinct2_across_drafts": mean_distinct_n(spd.tokens, 2),
      "nucleus_distinct2_across_samples": mean_distinct_n(samples, 2),
  }
