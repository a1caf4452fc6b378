"""Learn2PD (ICLR 2026): learning which dLLM positions to decode in parallel.

Inference: `ops.decoding.diffusion.generate` with the rule kind "filter"
and `ops.decoding.learn2pd.Filter`, plus end-of-text prediction
(`eot_truncation=True`). Training: only the filter (the diffusion LM stays
frozen), with binary cross-entropy on the labels of an EGP run
(`ops.decoding.learn2pd.egp_data`); `train_filter` below.
"""

import jax
import optax

from ops.decoding.learn2pd import Filter, FilterData, bce_loss
from zoo import registry

registry.register(registry.System(
    name="learn2pd",
    family="decoding",
    paper="Learning to Parallel: Accelerating Diffusion Large Language "
          "Models via Adaptive Parallel Decoding",
    claim="eval.claims.learn2pd:check",
    summary="A 2-layer MLP on the block's confidences decides which masked "
            "positions are final; end-of-text prediction skips the padding.",
))


def train_filter(data: FilterData, key, *, hidden: int | None = None,
                 steps: int = 500, learning_rate: float = 1e-2) -> Filter:
  """Fits a Filter to EGP labels with full-batch Adam.

  Args:
    data: FilterData [M, N].
    key: PRNG key of the initialisation.
    hidden: hidden width (default N).
    steps: Adam steps over the whole data.
    learning_rate: Adam's step size.

  Returns:
    The trained Filter.
  """
  params = Filter.init(key, data.inputs.shape[1], hidden)
  tx = optax.adam(learning_rate)

  @jax.jit
  def fit(params):
    def step(carry, _):
      params, opt_state = carry
      grads = jax.grad(bce_loss)(params, data)
      updates, opt_state = tx.update(grads, opt_state, params)
      return (optax.apply_updates(params, updates), opt_state), None

    (params, _), _ = jax.lax.scan(step, (params, tx.init(params)), None,
                                  length=steps)
    return params

  return Filter(*fit(params))
