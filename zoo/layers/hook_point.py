"""A named identity in a block: where activations are read and edited.

`HookPoint` returns its input unchanged and owns no params, so adding one
changes neither a model's outputs nor its param tree. `zoo.interp.hooks`
finds them by class: `capture` records their outputs
(`capture_intermediates`) and `intervene` replaces them
(`nn.intercept_methods`), the way TransformerLens's `hook_*` points work.
"""

import flax.linen as nn


class HookPoint(nn.Module):
  """x -> x; named after the activation it exposes (e.g. "resid_mid")."""

  @nn.compact
  def __call__(self, x):
    return x
