"""LUD fine-tuning: predict confident spans of text from placeholders.

Lexical Unit Decoding (LUD) fine-tunes a decoder LM so that one forward
over "context, placeholder x m" predicts the next token and m more.

1. Lexical units: a teacher-forced forward of the model being fine-tuned
   (its current parameters, without gradient) gives p(gold) at every
   target. A target with p(gold) >= `ALPHA` is "confident"; a lexical unit
   is a maximal run of confident targets (the paper's "contiguous tokens
   the model predicts confidently"), and every other target is a unit of
   its own. The unit's first token is predicted normally, from the real
   token before it, and the rest from placeholders: what one look-ahead
   step decides, given the real tokens up to the step. Units are cut into
   pieces of at most `MAX_UNIT_LEN` tokens, the most one decoder step can
   decide.
2. Data reconfiguration: the input that predicts a unit's non-first token
   becomes `special_tokens.MASK`, so the model learns to read the unit's
   tail from placeholders, as it will at decoding time; the causal mask and
   the model are unchanged.
3. Loss: the causal LM loss on the reconfigured inputs, averaged 1:1 with
   the plain next-token loss of the same windows (the teacher-forced pass
   above, now with gradient).

Choices of ours where the paper's recipe is not public (its code is not
released): units come from the model being fine-tuned rather than from a
frozen copy of the starting model (at step 0 the two are the same, and this
needs no second set of parameters); an unconfident target never starts a
longer unit, since the tokens after it are confident only once it is a real
input, which a placeholder is not (a unit it started would teach the
placeholders a word's tail without its head: confident misspellings at
decoding time); units are capped at `MAX_UNIT_LEN`, to
match what one decoder step can accept; the first target of a window always
starts a unit (its input has no real token before it); the 1:1 mix with
plain next-token data, because reconfigured windows hide the real tokens of
earlier units from later positions, while at decoding time every earlier
token is real.

Inputs: {"tokens": int32 [B, L + 1]}, as for `lm_next_token`.
"""

import jax
import optax
from jax import numpy as jnp

from train.tasks import Task, lm_next_token
from zoo.lm import special_tokens

ALPHA = 0.9  # confidence that makes a target part of a unit
MAX_UNIT_LEN = 5  # the next token and the decoder's m = 4 look-ahead tokens
# Cached fine-tunes (`eval.decoding.lud`) are keyed by it: bump it when the
# units or the loss change, so that no fine-tune of an older recipe is reused.
RECIPE_VERSION = 2


def run_offsets(continues, max_len: int) -> jax.Array:
  """Each position's offset within its run: [B, L] bool `continues` (the
  position extends the run of the one before it) -> [B, L] int32; runs
  longer than `max_len` restart every max_len positions."""
  if max_len < 1:
    raise ValueError(f"run_offsets: max_len must be >= 1, got {max_len}")
  index = jnp.arange(continues.shape[-1])
  start = jax.lax.cummax(jnp.where(continues & (index > 0), 0, index), axis=1)
  return ((index - start) % max_len).astype(jnp.int32)


def unit_offsets(gold_prob, alpha: float, max_len: int) -> jax.Array:
  """Each target's offset within its lexical unit (0: the unit's first).

  Args:
    gold_prob: [B, L] float, the teacher-forced probability of each target.
    alpha: the confidence threshold.
    max_len: the longest unit; longer runs restart every max_len targets.

  Returns:
    [B, L] int32: a target continues a unit when it and the target before
    it are both confident.
  """
  confident = gold_prob >= alpha
  after_confident = jnp.pad(confident[:, :-1], ((0, 0), (1, 0)))
  return run_offsets(confident & after_confident, max_len)


def reconfigure(tokens, offsets) -> jax.Array:
  """[B, L + 1] tokens, [B, L] unit offsets -> [B, L] LUD inputs.

  Input i (which predicts target i, token i + 1) is the placeholder where
  target i is not the first of its unit, and token i elsewhere.
  """
  return jnp.where(offsets > 0, special_tokens.MASK, tokens[:, :-1])


def loss(model, variables, inputs, key):
  del key  # deterministic: no dropout
  tokens = inputs["tokens"]
  targets = tokens[:, 1:]
  plain, valid, _ = lm_next_token.token_losses(model, variables, tokens)
  gold_prob = jnp.exp(-jax.lax.stop_gradient(plain))
  offsets = unit_offsets(gold_prob, ALPHA, MAX_UNIT_LEN)
  logits = model.apply(variables, reconfigure(tokens, offsets))
  lud = optax.softmax_cross_entropy_with_integer_labels(logits, targets)
  lookahead = valid & (offsets > 0)

  def mean(values, where):
    return jnp.sum(jnp.where(where, values, 0.0)) / jnp.maximum(
        jnp.sum(where), 1)

  correct = jnp.argmax(logits, -1) == targets
  metrics = {
      "nll": mean(plain, valid),
      "lud_nll": mean(lud, valid),
      "lookahead_fraction": mean(lookahead, valid),
      "lookahead_nll": mean(lud, lookahead),
      "lookahead_accuracy": mean(correct, lookahead),
  }
  return (metrics["nll"] + metrics["lud_nll"]) / 2, (metrics, {})


TASK = Task(
    name="lud",
    features=("tokens",),
    prepare=lm_next_token.prepare,
    init=lm_next_token.init,
    loss=loss,
)
