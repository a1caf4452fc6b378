"""Diverse beam search (Vijayakumar et al.) with the Hamming diversity term.

`num_beams` beams split into `G` groups of `W = num_beams / G`. At every step
one batched forward scores all beams; then the groups choose in order
g = 1..G, each running one beam-search step (`ops.decoding.beam.select`) on
the augmented scores

    log p(v | beam) - diversity_penalty * count_g(v),

where `count_g(v)` is how many alive beams of groups 1..g-1 chose token v at
this step. These are the Hugging Face semantics: no stagger between groups,
the penalty accumulates into the beams' selection scores, and every group
keeps its own pool of finished hypotheses. With one group, or with
diversity_penalty = 0 (every group is then the same beam search of width
W), nothing changes from `beam_search`.
"""

import functools

import jax
from jax import numpy as jnp

from ops.decoding import beam
from ops.vocab import vocab_reduce


def _diverse_step(beams: beam.Beams, logits, step, *, diversity_penalty,
                  eos_id, length_penalty):
  """One step for all groups; logits [N, G, W, V]."""
  n, num_groups, width, vocab = logits.shape
  log_probs = logits - vocab_reduce(logits).logsumexp[..., None]
  k = min(2 * width, vocab)
  counts = jnp.zeros((n, vocab), jnp.float32)
  groups, parents = [], []
  for g in range(num_groups):
    group = jax.tree.map(lambda a, g=g: a[:, g], beams)
    penalised = log_probs[:, g] - diversity_penalty * counts[:, None, :]
    cand_scores, cand_tokens = jax.lax.top_k(penalised, k)
    cand_log_probs = jnp.take_along_axis(log_probs[:, g], cand_tokens, -1)
    group, parent = beam.select(group, step, cand_scores, cand_tokens,
                                cand_log_probs, eos_id=eos_id,
                                length_penalty=length_penalty)
    # Empty beams (score -inf) chose nothing.
    chosen = jax.nn.one_hot(group.tokens[..., step], vocab)
    counts = counts + jnp.sum(
        chosen * jnp.isfinite(group.scores)[..., None], axis=1)
    groups.append(group)
    parents.append(parent)
  stacked = jax.tree.map(lambda *a: jnp.stack(a, axis=1), *groups)
  return stacked, jnp.stack(parents, axis=1)


def diverse_beam_search(lm, prompt, max_new_tokens: int, *, num_beams: int,
                        num_groups: int, diversity_penalty: float,
                        length_penalty: float = 1.0,
                        eos_id: int | None = None,
                        prompt_lengths=None) -> beam.BeamResult:
  """Diverse beam search; one batched forward over all beams per step.

  The arguments are checked eagerly (see `ops.decoding.check_prompt`), then
  one jitted loop runs.

  Args:
    lm: the model (see `ops.decoding`).
    prompt: [N, P] int token ids, left-padded if prompt_lengths is given.
    max_new_tokens: T.
    num_beams: B, all beams; a multiple of num_groups.
    num_groups: G.
    diversity_penalty: lambda >= 0, the Hamming diversity weight.
    length_penalty: see `beam_search`.
    eos_id: see `beam_search`.
    prompt_lengths: optional [N] int, each row's prompt length.

  Returns:
    BeamResult with tokens [N, B, T]: group after group, best first within
    a group; `scores` include the diversity penalties, `log_probs` do not.
  """
  beam.validate("diverse_beam_search", lm, prompt, max_new_tokens, num_beams,
                eos_id, prompt_lengths)
  if num_groups < 1 or num_beams % num_groups:
    raise ValueError(f"diverse_beam_search: num_groups must be >= 1 and "
                     f"divide num_beams={num_beams}, got {num_groups}")
  if diversity_penalty < 0:
    raise ValueError(f"diverse_beam_search: diversity_penalty must be >= 0, "
                     f"got {diversity_penalty}")
  return _diverse_beam_search(
      lm, prompt, prompt_lengths, max_new_tokens=max_new_tokens,
      num_beams=num_beams, num_groups=num_groups,
      diversity_penalty=diversity_penalty, length_penalty=length_penalty,
      eos_id=eos_id)


@functools.partial(jax.jit, static_argnames=(
    "max_new_tokens", "num_beams", "num_groups", "diversity_penalty",
    "length_penalty", "eos_id"))
def _diverse_beam_search(lm, prompt, prompt_lengths, *, max_new_tokens,
                         num_beams, num_groups, diversity_penalty,
                         length_penalty, eos_id):
  step_fn = functools.partial(_diverse_step,
                              diversity_penalty=diversity_penalty,
                              eos_id=eos_id, length_penalty=length_penalty)
  return beam.run_search("diverse_beam_search", lm, prompt, prompt_lengths,
                         max_new_tokens, num_groups, num_beams // num_groups,
                         step_fn, length_penalty)
