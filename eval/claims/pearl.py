"""PEARL's claim: adaptive draft lengths accept at least as much as plain
speculative decoding, losslessly, and overlap the two models.

Setting (issue #20's fair setting): the "lexicon" target and the
"lexicon_draft" draft LMs (`train.store.lm`, seeds 0, 1 and 2), 20
held-out prompts of 64 tokens, 128 new tokens each, decoded greedily one
prompt at a time with LEXICON_GAMMA draft tokens a round; the baseline is
plain speculative decoding with the same draft and the same gamma
(`eval.decoding.pearl`). Every record passes on the mean over the three
seeds and prints the spread.

Why this setting. PEARL's gain rests on two preconditions. (1) The draft
agrees with the target over runs of tokens: a pre-verify round yields one
token, and only accepted drafts turn a row post-verify, where a round
yields up to gamma. On the first setting (the "text" pair below) the
draft's first token of a round is accepted 38% of the time and the
chance of each next one, given the ones before, stays at 31-50% for the
first five (`draft_agreement`), so PEARL stays in pre-verify, at about one
token a round. The paper's pairs (CodeLlama 7B/34B-70B, Llama-2 7B/70B,
DeepSeek 1.3B-6.7B/33B) are strong models on code and maths, whose drafts
are accepted most of the time; the lexicon language (multi-token words
under a peaked grammar with a known, low entropy floor) is the toy
setting where a small draft can agree with its target likewise. (2)
Drafting gamma tokens takes about one target forward, so that the two
sides of a round overlap fully: the authors' scripts set gamma from the
pair's speed ratio (5 for 7B/70B, 4 for 1.3B/33B, 3 for 6.7B/33B). Here
gamma = round(1 / c) at the c measured on the lexicon pair of seed 0 before
any run of this check: eight alternating timings of the two models' greedy
decoding on 20 prompts at load 18-20 on the 2 shared cores gave c from
0.09 to 0.41, median 0.20, so gamma = 5 (LEXICON_GAMMA). Measured then,
the precondition holds: the draft's first token of a round is accepted
99.2% of the time and each next one, given the ones before, 99.7-100%
(draft held-out loss 0.504 nats/token, target 0.236, source floor 0.175).
Caveat: the lexicon targets' greedy repeated-4-gram rate is about 0.8, in
the range where acceptance is weak evidence; but the grammar's most likely
successors form 2-cycles, so greedy decoding of the source itself loops
(rate 0.72 over 128 characters): the loops are the language's.

Tokens per target forward count the prefill too (greedy: 1.0). The cost
model uses c = t_draft / t_target measured on the two models (the median
of 5 alternating timings of their greedy decoding; it moves with the
host's load). Every number is printed beside each target's held-out loss
and greedy repeated-4-gram rate: a target that loops (rate above 0.5) is
easy to draft for, so acceptance on it is weak evidence.

Per target forward PEARL is not expected to beat plain speculative decoding
with the same gamma: a pre-verify round verifies one draft token and a
post-verify round yields at most gamma (no bonus token), where a plain
round yields up to gamma + 1. Its gain is the overlap of the two models
(the cost-model record) and its longer accepted runs (the paper's mean
accepted tokens). Both comparisons are reported.

Sensitivity (the first setting, re-measured, records marked so): the
"text" target and "text_draft" draft (seed 0), gamma 5.

Result (issue #20's run, 4 minutes at load 15-18 on the 2 shared cores):
on the lexicon pairs PEARL yields 4.45 tokens per target forward (4.43
to 4.48), its runs between rejections hold 74 accepted tokens against
plain's 4.9 per round, and the cost model puts it 1.25x (1.23 to 1.31)
ahead of plain speculative decoding at the c measured during the run
(0.36: load moved it from the 0.20 that set gamma). Per target forward it
stays below plain speculative decoding (4.45 against 5.46): a FAIL by
construction, not by setting, since with every draft accepted a plain
round yields gamma + 1 tokens and a post-verify round gamma. On text
(sensitivity) the precondition fails (first draft accepted 38%) and so do
the claims, as before.

Defects looked for: the rounds were compared line by line with the
authors' `parallel_speculative_decoding` (src/engine.py): the target's
forward on the last verified token in pre-verify, on the gamma - 1
pending drafts and the first new one in post-verify; all gamma new drafts
appended on acceptance, with no bonus token; rollback to the first
rejection plus a residual sample. None differs.
"""

import numpy as np

from eval.claims import measured, over_seeds
from eval.decoding import pearl as pearl_report
from train.store import lm as lm_store

PROMPTS, PROMPT_LEN, NEW_TOKENS = 20, 64, 128
SEEDS = (0, 1, 2)
# round(1 / c) at c = t_draft / t_target measured on the lexicon pair.
LEXICON_GAMMA = 5


def _run(name: str, seed: int, gamma: int) -> tuple[dict, str]:
  """One pair's report and its models' diagnostics."""
  target = lm_store.load_target(name, seed=seed)
  draft = lm_store.load_target(f"{name}_draft", seed=seed)
  prompts = lm_store.heldout_prompts(target, PROMPTS, PROMPT_LEN)
  r = pearl_report.report(target, prompts, NEW_TOKENS, draft=draft,
                          gamma=gamma)
  models = (f"target val loss {target.val_loss:.3f} nats/token, greedy "
            f"rep-4 {target.greedy_rep4:.3f}; draft val loss "
            f"{draft.val_loss:.3f}")
  return r, models


def _records(name: str, seeds, gamma: int, label: str, suffix: str):
  """The claim's records, values the mean over one pair per seed."""
  runs = [_run(name, seed, gamma) for seed in seeds]
  reports = [r for r, _ in runs]
  mean = lambda key: float(np.mean([r[key] for r in reports]))

  def spread(key):
    if len(reports) == 1:
      return ""
    return "; " + over_seeds([r[key] for r in reports], seeds,
                             with_mean=False)

  agreement = np.mean([r["draft_agreement"] for r in reports], axis=0)
  models = " | ".join(f"seed {s}: {m}" for s, (_, m) in zip(seeds, runs))
  setting = (f"{PROMPTS} held-out prompts x {NEW_TOKENS} new tokens, "
             f"batch 1, gamma {gamma} at c = {mean('draft_cost'):.3f}; "
             f"precondition: draft accepted per position "
             f"{', '.join(f'{a:.2f}' for a in agreement)}; {models}")
  speculative = mean("speculative_tokens_per_target_forward")
  lossless = min(min(r["pearl_equals_greedy"], r["speculative_equals_greedy"])
                 for r in reports)
  record = lambda claim, metric, *rest, **kw: measured(
      "pearl", claim, metric + suffix, *rest, **kw)
  return [
      record(f"{label}>= 1.5 tokens per target forward ({setting}; "
             f"{mean('pearl_rounds'):.1f} rounds a prompt"
             f"{spread('pearl_tokens_per_target_forward')})",
             "tokens_per_target_forward",
             mean("pearl_tokens_per_target_forward"), speculative, 1.5),
      record(f"{label}> 1 token per target forward on every prompt "
             f"({setting}; value: the worst prompt of any seed)",
             "min_tokens_per_target_forward",
             min(r["pearl_min_tokens_per_target_forward"] for r in reports),
             None, 1.0, strict=True),
      record(f"{label}at least plain speculative decoding's tokens per "
             f"target forward with the same draft ({setting}; baseline and "
             f"threshold: plain speculative decoding"
             f"{spread('pearl_tokens_per_target_forward')})",
             "tokens_per_target_forward_vs_speculative",
             mean("pearl_tokens_per_target_forward"), speculative,
             speculative),
      record(f"{label}mean accepted tokens at least plain speculative "
             f"decoding's, the paper's measure ({setting}; PEARL per run "
             f"between rejections, plain per round; baseline and "
             f"threshold: plain{spread('pearl_mean_accepted_tokens')})",
             "mean_accepted_tokens", mean("pearl_mean_accepted_tokens"),
             mean("speculative_mean_accepted_tokens"),
             mean("speculative_mean_accepted_tokens")),
      record(f"{label}>= 1.2x plain speculative decoding's speed with the "
             f"two models overlapped, cost model at the measured c "
             f"({setting}; vs greedy: "
             f"{mean('pearl_cost_model_speedup_vs_autoregressive'):.2f}x"
             f"{spread('pearl_cost_model_speedup_vs_speculative')})",
             "cost_model_speedup_vs_speculative",
             mean("pearl_cost_model_speedup_vs_speculative"), 1.0, 1.2),
      record(f"{label}output equals greedy decoding on 100% of prompts "
             f"(PEARL and plain speculative decoding; {setting})",
             "equals_greedy_fraction", lossless, None, 1.0),
  ]


def check():
  return (_records("lexicon", SEEDS, LEXICON_GAMMA, "", "")
          + _records("text", (0,), pearl_report.GAMMA, "sensitivity: ",
                     "_sensitivity"))
