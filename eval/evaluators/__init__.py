"""Evaluators: metrics (and plots) of a trained model on a dataset split.

An evaluator is `evaluate(model, variables, batches, workdir) -> metrics`:
`batches` yields sharded batches with a "mask" [B] of real rows, `workdir`
(or None) is where plots go. Systems name their evaluators in the registry.
"""

import importlib
from collections.abc import Callable

_EVALUATORS = {
    "colbert_retrieval": "eval.retrieval.colbert",
    "lm_perplexity": "eval.evaluators.lm_perplexity",
    "vq_reconstruction": "eval.evaluators.vq_reconstruction",
}


def get(name: str) -> Callable:
  if name not in _EVALUATORS:
    raise KeyError(f"unknown evaluator {name!r}; known: "
                   f"{', '.join(sorted(_EVALUATORS))}")
  return importlib.import_module(_EVALUATORS[name]).evaluate
