"""Decoding the list tasks with one sampler setting: accuracy and NFE.

    examples, prompts = load_examples(num=500)
    result = evaluate(mdm, examples, prompts, Sampler(UnmaskRule("threshold")))

`mdm` is a trained model (`eval.parallelbench.model.TrainedMDM`: the
network, its block length, attention mask and answer length).

Tokens per step is `gen_len / nfe` (EOS padding included, as the papers
count it), averaged over the examples as total tokens over total steps.
"""

import dataclasses

import jax
import numpy as np

from eval.parallelbench import lists
from ops.decoding.diffusion import generate
from ops.decoding.unmask import UnmaskRule

BATCH = 512


@dataclasses.dataclass(frozen=True)
class Sampler:
  """A decoding setting: rule, sampling temperature, end-of-text truncation.

  A kind-"filter" rule needs the learned filter at evaluation time.
  """

  rule: UnmaskRule
  temperature: float = 0.0
  eot_truncation: bool = False

  def label(self) -> str:
    return self.rule.label() + ("+eotp" if self.eot_truncation else "")


@dataclasses.dataclass(frozen=True)
class Result:
  """correct, nfe: [M] per example; tasks: [M] task names."""

  sampler: Sampler
  correct: np.ndarray
  nfe: np.ndarray
  tasks: np.ndarray
  gen_len: int

  @property
  def accuracy(self) -> float:
    return float(self.correct.mean())

  @property
  def mean_nfe(self) -> float:
    return float(self.nfe.mean())

  @property
  def tokens_per_step(self) -> float:
    return self._tokens_per_step(self.nfe)

  def _tokens_per_step(self, nfe) -> float:
    return self.gen_len * len(nfe) / float(nfe.sum())

  def task_accuracy(self, task: str) -> float:
    return float(self.correct[self.tasks == task].mean())

  def task_tokens_per_step(self, task: str) -> float:
    return self._tokens_per_step(self.nfe[self.tasks == task])


def load_examples(num: int | None = None, split: str = "test"
                  ) -> tuple[list[lists.Example], np.ndarray]:
  """The first `num` records of a `parallelbench_lists` split.

  Returns:
    (examples, prompts [M, PROMPT_LEN] int32).
  """
  from train.data import sources  # tensorflow_datasets, on first use

  source = sources.data_source("parallelbench_lists", split)
  num = len(source) if num is None else min(num, len(source))
  tokens = np.stack([r["tokens"] for r in source.__getitems__(range(num))])
  prompts = tokens[:, :lists.PROMPT_LEN]
  return [lists.parse_prompt(p) for p in prompts], prompts


def decode(mdm, prompts, sampler: Sampler, *, key=None, learned_filter=None,
           reference=None, record: bool = False):
  """Runs `generate` over prompts [M, P] in equal batches of <= BATCH.

  The last batch is padded with copies of the first prompt (one shape, one
  compilation); the padding rows are dropped from the results.

  Returns:
    (tokens [M, G], nfe [M]) as numpy, and the list of per-batch traces
    (rows of the batch's prompts, in order) when `record`.
  """
  key = jax.random.key(0) if key is None else key
  num = len(prompts)
  batch = min(BATCH, num)
  pad = -num % batch
  prompts = np.concatenate([prompts, np.repeat(prompts[:1], pad, 0)])
  if reference is not None:
    reference = np.concatenate([reference, np.repeat(reference[:1], pad, 0)])
  tokens, nfe, traces = [], [], []
  for start in range(0, len(prompts), batch):
    rows = slice(start, start + batch)
    out = generate(
        mdm.lm, prompts[rows], gen_len=mdm.gen_len, block_len=mdm.block_len,
        rule=sampler.rule, attention=mdm.attention,
        temperature=sampler.temperature, key=jax.random.fold_in(key, start),
        learned_filter=learned_filter,
        reference=None if reference is None else reference[rows],
        eot_truncation=sampler.eot_truncation, record=record)
    tokens.append(np.asarray(out.tokens))
    nfe.append(np.asarray(out.nfe))
    if record:
      real = min(batch, num - start)
      traces.append(jax.tree.map(
          lambda a, real=real: a if a.ndim == 1 else a[:, :real], out.trace))
  result = np.concatenate(tokens)[:num], np.concatenate(nfe)[:num]
  return (*result, traces) if record else result


def score(examples, tokens) -> np.ndarray:
  """[M] bool: the decoded list is a correct answer."""
  return np.array([ex.is_correct(lists.decode_output(row))
                   for ex, row in zip(examples, tokens)])


def evaluate(mdm, examples, prompts, sampler: Sampler, *, key=None,
             learned_filter=None) -> Result:
  """Decodes and scores the examples with one sampler setting."""
  tokens, nfe = decode(mdm, prompts, sampler, key=key,
                       learned_filter=learned_filter)
  return Result(sampler, score(examples, tokens), nfe,
                np.array([ex.task for ex in examples]), mdm.gen_len)
