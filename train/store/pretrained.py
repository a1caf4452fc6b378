"""Starting a model from stored weights inside a task's `init`.

A task's `init` runs inside the train loop's `eval_shape` and `jit` traces,
while loading a stored model runs JAX programs (and sets a mesh) of its
own; JAX keeps its trace state per thread, so loading runs on a thread of
its own (`off_trace`). `filled` then puts the loaded host arrays into the
freshly initialised, logically boxed params, checking every shape.

    def init(model, key, inputs):
      variables = model.init(key, ...)
      config, lm = train.store.lm.target_params("code")
      params = {**variables["params"],
                "lm": pretrained.filled(variables["params"]["lm"], lm,
                                        "the code LM")}
"""

from collections.abc import Callable
from concurrent import futures

import flax.linen as nn
import jax
import numpy as np
from jax import numpy as jnp


def off_trace(fn: Callable, *args, **kwargs):
  """fn(*args, **kwargs), run on a thread outside any JAX trace."""
  with futures.ThreadPoolExecutor(1) as pool:
    return pool.submit(fn, *args, **kwargs).result()


def filled(boxed, values, what: str):
  """`boxed` (init params, leaves possibly logically boxed) with the arrays
  of `values` (the same tree, plain arrays) put in, in `boxed`'s dtypes.

  Raises:
    ValueError: naming `what`, when the trees or a shape differ.
  """
  is_box = lambda x: isinstance(x, nn.meta.AxisMetadata)

  def put(box, value):
    plain = box.unbox() if is_box(box) else box
    if plain.shape != np.shape(value):
      raise ValueError(f"{what}: shape {np.shape(value)} does not fit the "
                       f"model's {plain.shape}")
    value = jnp.asarray(value, plain.dtype)
    return box.replace_boxed(value) if is_box(box) else value

  try:
    return jax.tree.map(put, boxed, values, is_leaf=is_box)
  except (TypeError, ValueError) as e:
    raise ValueError(f"{what} does not match the model config: {e}") from None

