"""Knowledge feeding through in-context vectors, the decoder frozen.

Examples are the text target's windows as for ARC-Encoder
(`train.tasks.arc_encoder.prepare`: 128 context tokens, the 64 after). The
encoder makes one vector per decoder layer from the context; the frozen
decoder reads the continuation after <bos>, each block's output shifted
by the operator (`zoo.retrieval.icv`). Loss alpha L_cos + (1 - alpha)
L_gen: L_gen the continuation's NLL, L_cos the mean of 1 - cos(v_l,
Delta_l) with Delta_l the frozen decoder's states with the context in the
prompt minus without; alpha falls from `alpha_start` to 0 over
`alpha_steps`, counted by a `schedule` step in the train state (so a
resumed run goes on where it stopped).

`init` starts the decoder from the trained target and the encoder from its
embedding table and first blocks, the decoder kept out of the optimizer in
the `frozen` collection (`zoo.retrieval.arc_encoder.split_frozen`).
"""

from jax import numpy as jnp

from train.tasks import Task
from train.tasks import arc_encoder as arc_task
from zoo.retrieval import arc_encoder, icv


def init(model, key, inputs):
  variables = arc_encoder.split_frozen(
      arc_task.start_params(model, key, inputs))
  return {**variables, icv.SCHEDULE: {"step": jnp.zeros((), jnp.int32)}}


def _cosine(a, b):
  """[..., E] pairs -> [...] cosine similarity."""
  norms = jnp.linalg.norm(a, axis=-1) * jnp.linalg.norm(b, axis=-1)
  return (a * b).sum(-1) / jnp.maximum(norms, 1e-12)


def loss(model, variables, inputs, key):
  del key  # deterministic
  cfg = model.cfg
  step = variables[icv.SCHEDULE]["step"]
  alpha = cfg.alpha(step)
  context, continuation = inputs["context"], inputs["continuation"]

  def terms(module):
    vectors = module.vectors(context)  # [B, layers, E]
    generation = module.shifted_nll(vectors, continuation).mean()
    if cfg.alpha_start == 0:  # alpha is 0 throughout: no L_cos to compute
      return generation, jnp.zeros(())
    deltas = module.context_deltas(context, continuation)
    return generation, (1 - _cosine(vectors, deltas)).mean()

  generation, alignment = model.apply(arc_encoder.merged(variables),
                                      method=terms)
  value = alpha * alignment + (1 - alpha) * generation
  stats = {"l_gen": generation, "l_cos": alignment, "alpha": alpha}
  return value, (stats, {icv.SCHEDULE: {"step": step + 1}})


TASK = Task(
    name="icv",
    features=("tokens",),
    prepare=arc_task.prepare,
    init=init,
    loss=loss,
)
