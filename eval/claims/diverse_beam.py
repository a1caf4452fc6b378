"""Diverse beam search's claim: more diverse lists at a similar top-1.

Setting (issue #20's fair setting): the "lexicon" target LM
(`train.store.lm`, seeds 0, 1 and 2), 20 held-out prompts of 64 tokens,
32 new tokens; beam search with B = 6 against diverse beam search with
G = 3 groups of 2 and Hamming penalty 0.5 (`eval.decoding.diverse_beam`).
Distinct-2 is over each prompt's 6 outputs, averaged over prompts; top-1 is
the model log-prob of the top-ranked output (ranked by the penalised score,
as the authors' `beam_utils.lua` and Hugging Face rank), averaged. Each
record passes on the mean over the three seeds and prints the spread, and
each target's held-out loss and greedy repeated-4-gram rate: on a target
that loops, diversity numbers describe the loops.

Why this setting. The top-1 claim's precondition: diverse beam search's
first group is beam search of width B / G = 2, so its top-1 can come
within 10% of width 6's only if a narrow beam nearly finds the wide one's
best, or another group does better. The paper's captioning models are
peaked enough for that (its default is even G = B, one beam a group). On
the first setting (the "text" target below) beam search of width 2 ends
31.3% below width 6, so the claim cannot hold there for a reason that is
the target's, not the algorithm's. The lexicon language (multi-token words
under a peaked bigram grammar, entropy floor about 0.19 nats/token) is the
toy setting of a peaked target. Measured before this check first ran
(20 prompts, 32 new tokens, as here): beam search of width 2 ends 6.1%,
3.3% and 0.0% below width 6 on the targets of seeds 0, 1 and 2 (held-out
loss 0.236, 0.244, 0.240 nats/token against a floor near 0.19), so the
precondition holds; every top-1 record prints it again. Their greedy
repeated-4-gram rate is about 0.8: greedy decoding of this grammar follows
each word's most likely successor, a cycle, so the loops are the source's
as much as the models'; the distinct-2 record's beam lists are therefore
narrow to begin with.

Result (issue #20's run, 2.3 minutes at load 20 on the 2 shared cores): the
top-1 claim passes on the lexicon targets (3.1% below beam search, 0.0%
to 6.1%; DBS's top-1 is its first group's, the width-2 beam's) and fails
on text (13.8%). The distinct-2 claim fails on the lexicon targets
(1.07x, 1.03 to 1.10) where it passed on text (1.86x). Diagnosis: the two
claims pull the target opposite ways. A Hamming penalty of 0.5 per earlier
choice moves a group off a token only where the next best is within about
1 nat (2 beams x 0.5); inside a lexicon word the next letter is near
certain (several nats ahead), and at a word's start the grammar's best
successor leads the next by log(0.6 / 0.2) = 1.1 nats, so the later groups
mostly re-find the first group's path (5.85 distinct outputs of 6 on seed
0, against 6.0 for beam search); and character bigrams, the distinct-2
unit here, are few in a consonant-vowel alphabet. The peaked target that
lets a narrow beam find the best also leaves lambda = 0.5 little to act
on; the threshold and lambda stay as filed.

Sensitivity (the first setting, re-measured, records marked so): the
"text" target (seed 0).

Defects looked for: the step was compared line by line with the authors'
`dbs/beam_utils.lua` and Hugging Face's group beam search: groups in order,
each penalised by lambda per earlier group's choice of the token at this
step, one beam-search step on the augmented scores, which accumulate into
the beams' scores that rank the final list. Ours follows HF (no stagger
between groups, the spec's choice); the candidates per beam are the top 2W
(the authors' take the top W, which only matters with EOS). None differs
otherwise.
"""

import numpy as np

from eval.claims import measured, over_seeds
from eval.decoding import diverse_beam
from train.store import lm as lm_store

PROMPTS, PROMPT_LEN, NEW_TOKENS = 20, 64, 32
SEEDS = (0, 1, 2)


def _run(name: str, seed: int) -> tuple[dict, str]:
  target = lm_store.load_target(name, seed=seed)
  prompts = lm_store.heldout_prompts(target, PROMPTS, PROMPT_LEN)
  models = (f"seed {seed}: target val loss {target.val_loss:.3f} "
            f"nats/token, greedy rep-4 {target.greedy_rep4:.3f}")
  return diverse_beam.report(target, prompts, NEW_TOKENS), models


def _records(name: str, seeds, label: str, suffix: str):
  """The claim's records, values the mean over one target per seed."""
  runs = [_run(name, seed) for seed in seeds]
  reports = [r for r, _ in runs]
  mean = lambda key: float(np.mean([r[key] for r in reports]))

  def spread(key):
    if len(reports) == 1:
      return ""
    return "; " + over_seeds([r[key] for r in reports], seeds,
                             with_mean=False)

  setting = (f"B={diverse_beam.BEAMS}, G={diverse_beam.GROUPS}, lambda="
             f"{diverse_beam.PENALTY}, {PROMPTS} held-out prompts, "
             f"{NEW_TOKENS} new tokens; "
             + "; ".join(m for _, m in runs))
  narrow = diverse_beam.BEAMS // diverse_beam.GROUPS
  return [
      measured("diverse_beam", f"{label}distinct-2 over the outputs >= 1.2x "
               f"beam search's ({setting}; DBS "
               f"{mean('diverse_distinct2'):.4f}; value: ratio"
               f"{spread('distinct2_ratio')}; baseline: beam distinct-2)",
               "distinct2_ratio" + suffix, mean("distinct2_ratio"),
               mean("beam_distinct2"), 1.2),
      measured("diverse_beam", f"{label}top-1 log-prob within 10% of beam "
               f"search's ({setting}; DBS "
               f"{mean('diverse_top1_log_prob'):.3f}; precondition: beam "
               f"search of one group's width {narrow} reaches "
               f"{mean('narrow_beam_top1_log_prob'):.3f}, "
               f"{mean('narrow_top1_log_prob_drop'):.1%} below width "
               f"{diverse_beam.BEAMS}{spread('narrow_top1_log_prob_drop')}; "
               f"value: relative drop{spread('top1_log_prob_drop')}; "
               "baseline: beam top-1 log-prob)",
               "top1_log_prob_drop" + suffix, mean("top1_log_prob_drop"),
               mean("beam_top1_log_prob"), 0.10, higher_is_better=False),
  ]


def check():
  return (_records("lexicon", SEEDS, "", "")
          + _records("text", (0,), "sensitivity: ", "_sensitivity"))
