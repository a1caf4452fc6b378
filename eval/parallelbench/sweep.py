"""Decoding the list tasks with one sampler setting: accuracy and NFE.

    examples, prompts = load_examples(num=500)
    result = evaluate(mdm, examples, prompts, Sampler(UnmaskRule("threshold")))

`mdm` is a trained model (`zoo.lm.diffusion.TrainedMDM`: the network, its
block length, attention mask and answer length), decoded by
`zoo.decoding.sampler.decode`.

Tokens per step is `gen_len / nfe` (EOS padding included, as the papers
count it), averaged over the examples as total tokens over total steps.
"""

import dataclasses

import numpy as np

from train.data import list_tasks
from zoo.decoding import learn2pd
from zoo.decoding.sampler import Sampler, decode


@dataclasses.dataclass(frozen=True)
class Result:
  """correct, nfe: [M] per example; tasks: [M] task names; tokens: [M, G]
  the decoded answers."""

  sampler: Sampler
  correct: np.ndarray
  nfe: np.ndarray
  tasks: np.ndarray
  gen_len: int
  tokens: np.ndarray | None = None

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

  def points_lost_to(self, other: "Result") -> float:
    """Accuracy points `other` loses against this result, from the counts
    (a difference of float accuracies leaves residues like 1.0000000000000009
    that flip a verdict at a threshold)."""
    lost = int(self.correct.sum()) - int(other.correct.sum())
    return 100 * lost / len(self.correct)


def load_examples(num: int | None = None, split: str = "test"
                  ) -> tuple[list[list_tasks.Example], np.ndarray]:
  """The first `num` records of a `parallelbench_lists` split.

  Returns:
    (examples, prompts [M, PROMPT_LEN] int32).
  """
  from train.data import sources  # tensorflow_datasets, on first use

  source = sources.data_source("parallelbench_lists", split)
  num = len(source) if num is None else min(num, len(source))
  tokens = np.stack([r["tokens"] for r in source.__getitems__(range(num))])
  prompts = tokens[:, :list_tasks.PROMPT_LEN]
  return [list_tasks.parse_prompt(p) for p in prompts], prompts


def score(examples, tokens) -> np.ndarray:
  """[M] bool: the decoded list is a correct answer."""
  return np.array([ex.is_correct(list_tasks.decode_output(row))
                   for ex, row in zip(examples, tokens)])


def evaluate(mdm, examples, prompts, sampler: Sampler, *, key=None,
             learned_filter=None) -> Result:
  """Decodes and scores the examples with one sampler setting."""
  tokens, nfe = decode(mdm, prompts, sampler, key=key,
                       learned_filter=learned_filter)
  return Result(sampler, score(examples, tokens), nfe,
                np.array([ex.task for ex in examples]), mdm.gen_len, tokens)


def fit_filter(mdm, num_prompts: int = 512, num_calibration: int = 500,
               tolerance: float = 0.01, seed: int = 0,
               calibrate_with_eotp: bool = False) -> learn2pd.FittedFilter:
  """Learn2PD's filter from train prompts only: fitted on the first
  `num_prompts` of the train split, calibrated on the next
  `num_calibration` (`zoo.decoding.learn2pd.fit_filter`)."""
  examples, prompts = load_examples(num_prompts + num_calibration,
                                    split="train")
  return learn2pd.fit_filter(
      mdm, prompts[:num_prompts], prompts[num_prompts:],
      lambda tokens: score(examples[num_prompts:], tokens),
      tolerance=tolerance, seed=seed,
      calibrate_with_eotp=calibrate_with_eotp)
