"""PEARL report: rounds, tokens per target forward and a cost-model clock,
beside plain speculative decoding with the same draft model.

    python -m eval decoding --system pearl

The draft is the target's "<name>_draft" model (`train.store.lm`).
Each prompt is decoded alone (batch 1, as the paper measures), greedily, by
plain speculative decoding (`speculative_*`) and PEARL (`pearl_*`), both
with GAMMA draft tokens a round, and by greedy decoding with the target and
with the draft. Metrics per method:

- `tokens_per_target_forward`: new tokens over target forwards, the prefill
  included (greedy: 1.0); `min_tokens_per_target_forward` is the worst
  prompt's.
- `rounds`: draft-and-verify rounds per prompt (each one target forward).
- `mean_accepted_tokens`: the paper's measure: accepted draft tokens per
  verification for plain speculative decoding, per run of consecutive
  post-verify rounds (from one rejection to the next; the run still open
  at the end counts) for PEARL.
- `equals_greedy`: the fraction of prompts decoded exactly as greedy.
- `tokens_per_second`: one device, the two models one after the other.

The mechanism's precondition, beside them: `draft_agreement` (the chance
that the draft's k-th token of a round is accepted given the k - 1 before
it were, k = 1..gamma, along the target's greedy path) and `draft_cost`.

`draft_cost` is c = t_draft / t_target, the median ratio of the two models'
greedy decoding times on the same prompts (COST_REPEATS times); the
`*_cost_model_speedup_*` numbers are `ops.decoding.pearl.cost_model` at
that c: PEARL's wall clock with the two models overlapping on two devices.
"""


import jax
import numpy as np
from jax import numpy as jnp

from eval.decoding.timing import each_prompt
from ops.decoding.pearl import cost_model, pearl_generate
from ops.decoding.sampling import generate
from ops.decoding.speculative import speculative_generate
from train.store import lm as lm_store

# Draft tokens a round: drafting takes one target forward at c = 0.2.
GAMMA = 5
COST_REPEATS = 5
METHODS = {"speculative": speculative_generate, "pearl": pearl_generate}


def summary(name: str, outputs: list, seconds: float, greedy_tokens,
            new_tokens: int) -> dict:
  """Flat `<name>_<metric>` metrics of SpeculativeGenerations (batch 1)."""
  field = lambda f: np.array([np.asarray(getattr(o, f))[0] for o in outputs])
  tokens = np.concatenate([np.asarray(o.tokens) for o in outputs])
  rounds, accepted = field("rounds"), field("accepted")
  # The paper's measure: PEARL's post-verify rounds continue one run.
  verifications = rounds if name == "speculative" else (
      field("rejections") + 1)
  per_prompt = new_tokens / (1 + rounds)
  return {
      f"{name}_tokens_per_target_forward": tokens.size / np.sum(1 + rounds),
      f"{name}_min_tokens_per_target_forward": float(per_prompt.min()),
      f"{name}_rounds": float(rounds.mean()),
      f"{name}_mean_accepted_tokens": accepted.sum() / verifications.sum(),
      f"{name}_equals_greedy": float(np.mean(
          (tokens == greedy_tokens).all(axis=1))),
      f"{name}_tokens_per_second": tokens.size / seconds,
  }


def draft_agreement(draft_lm, prompts, greedy_tokens,
                    gamma: int) -> list[float]:
  """gamma acceptance rates: of a round's k-th draft token, given the k - 1
  before it were accepted, over every start along the greedy path.

  Greedy: a draft token is accepted iff it is the target's argmax, and once
  the k - 1 before it were accepted the draft reads the target's own
  tokens, so one draft forward over prompt + greedy continuation decides
  every position.

  Args:
    draft_lm: the draft model.
    prompts: [N, P] int32.
    greedy_tokens: [N, T] the target's greedy continuations.
    gamma: draft tokens per round.
  """
  prompts = jnp.asarray(prompts, jnp.int32)
  greedy_tokens = jnp.asarray(greedy_tokens, jnp.int32)
  sequence = jnp.concatenate([prompts, greedy_tokens], axis=1)[:, :-1]
  b, length = sequence.shape
  logits, _ = jax.jit(lambda lm, s: lm.extend(s, lm.init_cache(b, length)))(
      draft_lm, sequence)
  predicted = jnp.argmax(logits[:, prompts.shape[1] - 1:], axis=-1)
  agree = np.asarray(predicted == greedy_tokens)  # [N, T]
  rates, run = [], np.ones_like(agree)
  for k in range(gamma):
    # run[:, t]: the draft's tokens for t .. t + k - 1 were all accepted.
    prior = run[:, :agree.shape[1] - k]
    rates.append(float(np.sum(prior & agree[:, k:]) / max(prior.sum(), 1)))
    run = prior & agree[:, k:]
  return rates


def report(target: lm_store.Target, prompts, new_tokens: int,
           draft: lm_store.Target | None = None,
           gamma: int = GAMMA) -> dict:
  """PEARL and plain speculative decoding beside greedy.

  Args:
    target: the target LM.
    prompts: [num, P] int32 held-out prompts.
    new_tokens: N.
    draft: the draft LM; default `load_target(target.name + "_draft")`.
    gamma: draft tokens a round, for both methods.

  Returns:
    Flat metrics (see the module docstring).
  """
  if draft is None:
    draft = lm_store.load_target(f"{target.name}_draft")
  greedy_with = lambda lm: lambda p: generate(lm, p, new_tokens).tokens
  # Alternating repeats: a load change on a shared host hits both lm_store.
  ratios = []
  for _ in range(COST_REPEATS):
    greedy, greedy_seconds = each_prompt(greedy_with(target.lm), prompts)
    _, draft_seconds = each_prompt(greedy_with(draft.lm), prompts)
    ratios.append(draft_seconds / greedy_seconds)
  c = float(np.median(ratios))
  greedy_tokens = np.concatenate([np.asarray(t) for t in greedy])
  result = {"gamma": gamma, "draft_cost": c,
            "draft_agreement": draft_agreement(draft.lm, prompts,
                                               greedy_tokens, gamma),
            "draft_val_loss": draft.val_loss,
            "greedy_tokens_per_second": greedy_tokens.size / greedy_seconds}
  for name, decode in METHODS.items():
    outputs, seconds = each_prompt(
        lambda p, decode=decode: decode(target.lm, draft.lm, p, new_tokens,
                                        gamma=gamma), prompts)
    result.update(summary(name, outputs, seconds, greedy_tokens,
                          new_tokens))
  cost = cost_model(new_tokens, result["speculative_rounds"],
                    result["pearl_rounds"], gamma, c)
  result.update({
      "speculative_cost_model_speedup_vs_autoregressive":
          cost.autoregressive / cost.speculative,
      "pearl_cost_model_speedup_vs_autoregressive":
          cost.pearl_vs_autoregressive,
      "pearl_cost_model_speedup_vs_speculative": cost.pearl_vs_speculative,
  })
  return result
