"""Diverse beam search report: list diversity and top-1 quality vs beam search.

    python -m eval decoding --system diverse_beam

Both searches keep B = 6 beams for a fixed number of new tokens; diverse
beam search splits them into G = 3 groups of 2 with Hamming penalty 0.5.
Per prompt: distinct-2 over the 6 outputs, the number of distinct outputs,
and the model log-probability of the top-ranked output (diverse beam search
ranks by its penalised score; for the first group that is the log-prob).
Beside them, beam search of one group's width (B / G = 2): the first group
of diverse beam search is exactly that search, so how far its top-1 falls
below width B's bounds how close diverse beam search's top-1 can come
unless another group finds better.
"""

import numpy as np
from jax import numpy as jnp

from eval.decoding.timing import timed
from ops.decoding.beam import BeamResult, beam_search
from ops.decoding.diverse_beam import diverse_beam_search
from ops.decoding.metrics import mean_distinct_n
from train.store import lm as lm_store

BEAMS, GROUPS, PENALTY = 6, 3, 0.5


def _list_metrics(result: BeamResult) -> dict:
  tokens = np.asarray(result.tokens)
  top = np.argmax(np.asarray(result.scores), axis=1)
  top1 = np.take_along_axis(np.asarray(result.log_probs), top[:, None], 1)
  return {
      "distinct2": mean_distinct_n(tokens, 2),
      "unique_outputs": float(np.mean([len({tuple(s) for s in row})
                                       for row in tokens])),
      "top1_log_prob": float(np.mean(top1)),
      "mean_log_prob": float(np.mean(np.asarray(result.log_probs))),
  }


def report(target: lm_store.Target, prompts, new_tokens: int) -> dict:
  """Diverse beam search (G=3, lambda=0.5) beside beam search, B=6.

  Args:
    target: the target LM.
    prompts: [N, P] int32 held-out prompts.
    new_tokens: T.

  Returns:
    Flat metrics of both searches and the claim's ratios.
  """
  lm = target.lm
  prompts = jnp.asarray(prompts, jnp.int32)
  beam, beam_s = timed(beam_search, lm, prompts, new_tokens,
                       num_beams=BEAMS)
  narrow = beam_search(lm, prompts, new_tokens, num_beams=BEAMS // GROUPS)
  diverse, diverse_s = timed(diverse_beam_search, lm, prompts, new_tokens,
                             num_beams=BEAMS, num_groups=GROUPS,
                             diversity_penalty=PENALTY)
  base, div = _list_metrics(beam), _list_metrics(diverse)
  tokens = prompts.shape[0] * new_tokens
  return {
      "target_forwards_per_token": float(diverse.forward_calls) / new_tokens,
      "tokens_per_second": tokens / diverse_s,
      "beam_tokens_per_second": tokens / beam_s,
      "time_ratio_to_beam": diverse_s / beam_s,
      **{f"beam_{key}": value for key, value in base.items()},
      **{f"diverse_{key}": value for key, value in div.items()},
      "narrow_beam_top1_log_prob": _list_metrics(narrow)["top1_log_prob"],
      "distinct2_ratio": div["distinct2"] / base["distinct2"],
      # Both log-probs are negative: > 0 means diverse beam's top-1 is worse.
      "top1_log_prob_drop": div["top1_log_prob"] / base["top1_log_prob"] - 1,
      "narrow_top1_log_prob_drop": (_list_metrics(narrow)["top1_log_prob"]
                                    / base["top1_log_prob"] - 1),
  }
