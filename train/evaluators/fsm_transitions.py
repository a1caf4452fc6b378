"""Transition accuracy on `tokfsm` (Codebook Features' TokFSM metric).

The model samples walks from BOS alone (temperature 1); the accuracy is
the share of consecutive pairs of generated states that are edges of the
machine. A state whose two tokens are not both digits makes its pairs
invalid. 128 walks of 32 states (64 tokens) by default.
"""

import jax
import numpy as np

from ops.decoding import sampling
from train.data.builders import tokfsm
from zoo.lm import special_tokens
from zoo.lm.decoder import CachedLM
from zoo.vq.codebook_features import inference_params

NUM_WALKS = 128
SEED = 0


def sample_tokens(model, variables, num_walks: int, new_tokens: int,
                  key) -> np.ndarray:
  """[num_walks, new_tokens] tokens sampled after BOS."""
  lm = CachedLM(inference_params(variables), model)
  prompt = np.full((num_walks, 1), special_tokens.BOS, np.int32)
  out = sampling.generate(lm, prompt, new_tokens, key, temperature=1.0)
  return np.asarray(out.tokens)


def transition_accuracy(tokens: np.ndarray, fsm: tokfsm.TokFSM) -> float:
  """Share of valid transitions in [N, digits * L] generated tokens."""
  states = tokfsm.decode(tokens, fsm.recipe)  # [N, L], -1 invalid
  s = fsm.recipe.num_states
  states = np.where(states < s, states, -1)  # "57" is no state either
  a, b = states[:, :-1], states[:, 1:]
  edge = fsm.transitions[np.maximum(a, 0), np.maximum(b, 0)]
  return float(np.mean((a >= 0) & (b >= 0) & edge))


def evaluate(model, variables, batches, workdir=None, *,
             num_walks: int = NUM_WALKS, seed: int = SEED
             ) -> dict[str, float]:
  """transition_accuracy of walks sampled from the model."""
  del batches, workdir  # the walks are the model's own; no plots
  fsm = tokfsm.generate()
  length = fsm.recipe.length - 1
  tokens = sample_tokens(model, variables, num_walks, length,
                         jax.random.key(seed))
  return {"transition_accuracy": transition_accuracy(tokens, fsm)}
