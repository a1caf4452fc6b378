"""PEP (Liu et al., 2021): learnable soft thresholds prune entries to 0.

e = sign(v) * relu(|v| - sigmoid(s) - tau): exact zeros below the
threshold. s is learned per dimension (ours; s starts at -150 as in the
artifact, so nothing is pruned while training). The budget is met after
training (`finalize`): tau is raised to the smallest value leaving at most
allowed_bytes / 8 non-zeros, each stored as a uint32 position and a float32
value. Ours: PEP's retraining stage with the frozen mask is skipped (one
epoch in all).
"""

import dataclasses

import jax
from jax import numpy as jnp

from zoo.vq.embedding_compression.methods import CompressionConfig, table

ENTRY_BYTES = 8  # uint32 position + float32 value


def soft_threshold(v, threshold):
  return jnp.sign(v) * jax.nn.relu(jnp.abs(v) - threshold)


@dataclasses.dataclass(frozen=True)
class PEP(CompressionConfig):
  """Attributes:

    threshold_init: the initial s (sigmoid(s) is the threshold).
  """

  kind = "pep"
  threshold_init: float = -150.0

  def max_nonzeros(self, spec) -> int:
    return min(self.allowed_bytes(spec) // ENTRY_BYTES,
               spec.num_ids * spec.dim)

  def param_bytes(self, spec):
    return self.max_nonzeros(spec) * ENTRY_BYTES

  def embed(self, module, ids, spec):
    rows = table(module, "table", (spec.num_ids, spec.dim))
    s = module.param("threshold", jax.nn.initializers.constant(
        self.threshold_init), (spec.dim,), jnp.float32)
    tau = module.variable("pruning", "tau", jnp.zeros, (), jnp.float32).value
    return soft_threshold(jnp.take(rows, ids, axis=0),
                          jax.nn.sigmoid(s) + tau)

  def finalize(self, variables, spec):
    params = variables["params"]
    rows, s = params["table"], params["threshold"]
    margin = (jnp.abs(rows) - jax.nn.sigmoid(s)).ravel()
    keep = self.max_nonzeros(spec)
    if keep >= margin.size:
      return variables
    # Entries whose margin exceeds tau survive: at most `keep` of them.
    tau = jnp.maximum(jax.lax.top_k(margin, keep + 1)[0][-1], 0.0)
    return {**variables, "pruning": {"tau": tau}}
