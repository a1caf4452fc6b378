"""The perfect-marginal model of the list tasks, and its closed forms.

Given the prompt and a partly decoded canvas, the oracle returns, for every
answer position, the exact marginal of the uniform distribution over the
example's correct answers that agree with the decoded positions. Decoding
one position per step with sampling is then always correct; decoding k
positions of a step independently from their marginals is not, and for
shuffle its accuracy has a closed form (`shuffle_accuracy`), which
`sampled_accuracy` measures.
"""

import math

import flax.struct
import jax
import numpy as np
from jax import numpy as jnp

from eval.parallelbench import sweep
from ops.decoding.diffusion import generate
from ops.decoding.unmask import UnmaskRule
from train.data import list_tasks
from zoo.lm import special_tokens


class MarginalOracle(flax.struct.PyTreeNode):
  """answers: [B, A, G] int32 encoded answers; valid: [B, A] bool."""

  answers: jax.Array
  valid: jax.Array
  prompt_len: int = flax.struct.field(pytree_node=False)
  vocab_size: int = flax.struct.field(pytree_node=False,
                                      default=list_tasks.VOCAB_SIZE)

  @classmethod
  def for_examples(cls, examples, gen_len: int = list_tasks.GEN_LEN,
                   prompt_len: int = list_tasks.PROMPT_LEN) -> "MarginalOracle":
    per_example = [[list_tasks.encode_answer(a, gen_len) for a in ex.answers()]
                   for ex in examples]
    width = max(len(a) for a in per_example)
    answers = np.full((len(examples), width, gen_len), special_tokens.EOS,
                      np.int32)
    valid = np.zeros((len(examples), width), bool)
    for i, rows in enumerate(per_example):
      answers[i, :len(rows)] = rows
      valid[i, :len(rows)] = True
    return cls(jnp.asarray(answers), jnp.asarray(valid), prompt_len)

  def __call__(self, tokens, positions=None, qq_mask=None):
    """[B, P + G] canvas -> [B, P + G, V] log-marginals (0 on the prompt).

    When no correct answer agrees with the canvas (an earlier step chose
    clashing tokens) every answer position is uniform.
    """
    del positions, qq_mask  # the oracle reads the canvas, not attention
    gen = tokens[:, self.prompt_len:]
    b, g = gen.shape
    agrees = jnp.all((gen[:, None] == special_tokens.MASK)
                     | (gen[:, None] == self.answers), axis=-1)
    fits = (self.valid & agrees).astype(jnp.float32)  # [B, A]
    rows = jnp.arange(b)[:, None, None]
    cols = jnp.arange(g)[None, None, :]
    counts = jnp.zeros((b, g, self.vocab_size)).at[
        rows, cols, self.answers].add(fits[:, :, None])
    logits = jnp.where(jnp.any(fits > 0, -1)[:, None, None],
                       jnp.log(counts), 0.0)
    return jnp.concatenate(
        [jnp.zeros((b, self.prompt_len, self.vocab_size)), logits], axis=1)


def shuffle_accuracy(num_items: int, per_step: int) -> float:
  """Exact shuffle accuracy with k independent marginal samples per step.

  With m names left and k positions drawn uniformly from them, all k differ
  with probability m! / ((m - k)! m^k); the steps multiply.
  """
  accuracy, left = 1.0, num_items
  while left:
    k = min(per_step, left)
    accuracy *= math.perm(left, k) / left ** k
    left -= k
  return accuracy


def sampled_accuracy(key, num_items: int = 4, num_examples: int = 2000,
                     per_step=(1, 2, 4)) -> list[dict]:
  """Oracle accuracy of shuffle and copy decoded k tokens per step.

  The answer is exactly `num_items` long (one block, no EOS), positions are
  chosen by confidence and sampled from the oracle's marginals; all
  examples are decoded as one batch.

  Returns:
    One row per (task, k): task, per_step, accuracy, closed_form.
  """
  rng = np.random.default_rng(0)
  tasks = ("shuffle", "copy")
  examples = [list_tasks.sample_example(rng, task, num_items)
              for task in tasks for _ in range(num_examples)]
  prompts = np.stack([ex.prompt() for ex in examples])
  model = MarginalOracle.for_examples(examples, num_items)
  rows = []
  for k in per_step:
    tokens = generate(model, prompts, gen_len=num_items, block_len=num_items,
                      rule=UnmaskRule("confidence", k=k), temperature=1.0,
                      key=jax.random.fold_in(key, k)).tokens
    correct = sweep.score(examples, np.asarray(tokens)).reshape(len(tasks),
                                                                 -1)
    for task, hits in zip(tasks, correct):
      closed = shuffle_accuracy(num_items, k) if task == "shuffle" else 1.0
      rows.append({"task": task, "per_step": k,
                   "accuracy": float(hits.mean()), "closed_form": closed})
  return rows
