"""Diffusion-LM decoding with one sampler setting, over many prompts.

    out_tokens, nfe = decode(mdm, prompts, Sampler(UnmaskRule("threshold")))

A `Sampler` is what the diffusion decoding papers compare (ParallelBench's
sweep, Learn2PD, LocalLeap): the unmasking rule, the sampling temperature
and end-of-text truncation. `decode` runs `ops.decoding.diffusion.generate`
in equal batches.
"""

import dataclasses

import jax
import numpy as np

from ops.decoding.diffusion import generate
from ops.decoding.unmask import UnmaskRule
from zoo.lm.diffusion import TrainedMDM

BATCH = 512


@dataclasses.dataclass(frozen=True)
class Sampler:
  """A decoding setting: rule, sampling temperature, end-of-text truncation.

  A kind-"filter" rule needs the learned filter at decoding time.
  """

  rule: UnmaskRule
  temperature: float = 0.0
  eot_truncation: bool = False

  def label(self) -> str:
    return self.rule.label() + ("+eotp" if self.eot_truncation else "")


def decode(mdm: TrainedMDM, prompts, sampler: Sampler, *, key=None,
           learned_filter=None, reference=None, record: bool = False):
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
